/*
 * pulsar_io.h: Pulsar IO connector configs as sluice jobs (`sluice run --pulsar-io KIND CONFIG`).
 */
#ifndef SL_PULSAR_IO_H
#define SL_PULSAR_IO_H

#include "sluice/conf.h"

/* Reads the Pulsar IO connector config at path (JSON or YAML: the connector's own settings as a
 * map, or a whole connector config with them under `configs`) and adds to conf the job that
 * does the same: kind "kinesis-source" (Kinesis -> Pulsar topic), "kinesis-sink" (Pulsar topic
 * -> Kinesis) or "dynamodb-source". Each setting keeps its file and line, so errors point into
 * the user's file. topic: the Pulsar topic (NULL: the config's topicName / inputs, a short
 * name qualified with its tenant and namespace; with topic_optional a source may have none,
 * for commands that do not write to it); service_url: the broker (NULL: $PULSAR_SERVICE_URL, else pulsar://localhost:6650). Returns
 * SL_OK, or SL_ERR_CONF / SL_ERR_IO with errstr saying what and where. */
sl_err_t pulsar_io_load(sl_conf_t *conf, const char *kind, const char *path, const char *topic,
                        const char *service_url, int topic_optional, char *errstr,
                        size_t errlen);

/* Sets one of the connector's fields (a Pulsar IO name such as awsEndpoint, as given with -D;
 * "sensitive." makes it secret) where pulsar_io_load puts the config file's, so errors about
 * it read "-D name: ...". SL_ERR_INVAL for an unknown kind or an empty name. */
sl_err_t pulsar_io_set(sl_conf_t *conf, const char *kind, const char *name, const char *value);

#endif
