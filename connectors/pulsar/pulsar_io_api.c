/*
 * pulsar_io_api.c: the public face of the Pulsar IO config translation (sluice/conf.h), so a
 * host (the sluice CLI among them) loads `--pulsar-io KIND CONFIG` jobs without the connector's
 * private header. The work is pulsar_io.c's.
 */
#include "pulsar_io.h"
#include "sluice/conf.h"

sl_err_t sl_conf_load_pulsar_io(sl_conf_t *conf, const char *kind, const char *path,
                                const char *topic, const char *service_url, int topic_optional,
                                char *errstr, size_t errlen) {
    return pulsar_io_load(conf, kind, path, topic, service_url, topic_optional, errstr,
                             errlen);
}

sl_err_t sl_conf_set_pulsar_io(sl_conf_t *conf, const char *kind, const char *name,
                               const char *value) {
    return pulsar_io_set(conf, kind, name, value);
}
