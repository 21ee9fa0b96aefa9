/*
 * pulsar_io.c: a Pulsar IO connector config (the JSON or YAML users give `pulsar-admin sources
 * create --source-config-file`) read as the sluice job that does the same work, so the configs
 * of Pulsar's Kinesis source and sink run unchanged:
 *
 *   kinesis-source   Kinesis stream -> Pulsar topic: task.inputs=kinesis.in, each connector
 *                    setting as systems.kinesis.streams.in.<name> (the Kinesis system's table
 *                    knows Pulsar's names: awsKinesisStreamName, initialPositionInStream,
 *                    awsCredentialPluginParam, ...), task.outputs=pulsar.out
 *   kinesis-sink     Pulsar topic -> Kinesis stream: task.inputs=pulsar.in, the settings as
 *                    systems.kinesis.streams.out.<name> (messageFormat, ...)
 *   dynamodb-source  DynamoDB stream -> Pulsar topic: task.inputs=dynamodb.in (the
 *                    dynamodbstreams system, which shares the Kinesis table and knows
 *                    awsDynamodbStreamArn), each setting as systems.dynamodb.streams.in.<name>
 *
 * YAML and JSON are both read with libyaml (JSON is YAML's flow style), which gives every value
 * its line: a wrong setting is reported at CONFIG:LINE like a properties file's. A nested map
 * (awsCredentialPluginParam written as a map) is passed on as JSON text. The fields of a
 * whole connector config around `configs` describe a Pulsar Functions deployment: what has a
 * meaning here is mapped (tenant/namespace, sourceSubscriptionName, the topic from inputs or
 * inputSpecs), every other one is explained in an info line, never dropped without a word.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "pulsar_io.h"
#include "sluice/log.h"
#include "util_json.h"
#include "util_str.h"

typedef struct io_ctx {
    sl_conf_t *conf;
    const char *path;
    char *errstr;
    size_t errlen;
} io_ctx_t;

static json_t *node_json(yaml_document_t *doc, yaml_node_t *n) {
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return json_stringn((const char *)n->data.scalar.value, n->data.scalar.length);
    case YAML_SEQUENCE_NODE: {
        json_t *a = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             a && it < n->data.sequence.items.top; it++)
            json_array_append_new(a, node_json(doc, yaml_document_get_node(doc, *it)));
        return a;
    }
    case YAML_MAPPING_NODE: {
        json_t *o = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
             o && p < n->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            if (k && k->type == YAML_SCALAR_NODE)
                json_object_set_new(o, (const char *)k->data.scalar.value,
                                    node_json(doc, yaml_document_get_node(doc, p->value)));
        }
        return o;
    }
    default:
        return json_null();
    }
}

/* The text of a value node: a scalar as it is, anything else as compact JSON (heap). */
static char *node_text(yaml_document_t *doc, yaml_node_t *n) {
    json_t *j;
    char *s;
    if (n->type == YAML_SCALAR_NODE)
        return sl_strndup((const char *)n->data.scalar.value, n->data.scalar.length);
    j = node_json(doc, n);
    s = util_json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key) {
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

static int line_of(const yaml_node_t *n) {
    return (int)n->start_mark.line + 1;
}

static int set(io_ctx_t *x, const char *key, const char *value, int line) {
    if (sl_conf_set_at(x->conf, key, value, x->path, line) != SL_OK) {
        sl_errf(x->errstr, x->errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Every setting of the connector's map under prefix, each at its own line. */
static int set_all(io_ctx_t *x, yaml_document_t *doc, yaml_node_t *map, const char *prefix) {
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        char key[512], *text;
        int r;
        if (!k || !v || k->type != YAML_SCALAR_NODE) {
            sl_errf(x->errstr, x->errlen, "%s:%lu: a setting's name must be a plain string",
                    x->path, k ? (unsigned long)k->start_mark.line + 1 : 0UL);
            return -1;
        }
        snprintf(key, sizeof(key), "%s%s", prefix, (const char *)k->data.scalar.value);
        if (!(text = node_text(doc, v))) {
            sl_errf(x->errstr, x->errlen, "out of memory");
            return -1;
        }
        r = set(x, key, text, (int)k->start_mark.line + 1);
        free(text);
        if (r < 0)
            return -1;
    }
    return 0;
}

/* A topic from the config: topicName (a source's output), or a sink's first input: inputs (a
 * list or a comma-separated string), else the first topic of inputSpecs,
 * topicToSerdeClassName or topicToSchemaType (maps keyed by topic). */
static char *config_topic(yaml_document_t *doc, yaml_node_t *root, int source, int *line) {
    static const char *const sink_fields[] = {"inputs", "inputSpecs", "topicToSerdeClassName",
                                              "topicToSchemaType", NULL};
    static const char *const source_fields[] = {"topicName", NULL};
    const char *const *f = source ? source_fields : sink_fields;
    for (; *f; f++) {
        yaml_node_t *t = map_get(doc, root, *f);
        if (t && t->type == YAML_SEQUENCE_NODE &&
            t->data.sequence.items.start < t->data.sequence.items.top)
            t = yaml_document_get_node(doc, *t->data.sequence.items.start);
        else if (t && t->type == YAML_MAPPING_NODE &&
                 t->data.mapping.pairs.start < t->data.mapping.pairs.top)
            t = yaml_document_get_node(doc, t->data.mapping.pairs.start->key);
        if (!t || t->type != YAML_SCALAR_NODE || !t->data.scalar.length)
            continue;
        *line = line_of(t);
        const char *v = (const char *)t->data.scalar.value, *comma = strchr(v, ',');
        return sl_strndup(v, comma ? (size_t)(comma - v) : t->data.scalar.length);
    }
    return NULL;
}

/* Where a connector's settings go in the job, NULL for an unknown kind. */
static const char *settings_prefix(const char *kind) {
    if (!strcmp(kind, "kinesis-source"))
        return "systems.kinesis.streams.in.";
    if (!strcmp(kind, "kinesis-sink"))
        return "systems.kinesis.streams.out.";
    if (!strcmp(kind, "dynamodb-source"))
        return "systems.dynamodb.streams.in.";
    return NULL;
}

sl_err_t pulsar_io_set(sl_conf_t *conf, const char *kind, const char *name, const char *value) {
    const char *prefix = settings_prefix(kind), *bare = name;
    char key[512];
    int secret = !strncmp(name, "sensitive.", 10);
    if (secret)
        bare += 10;
    if (!prefix || !*bare)
        return SL_ERR_INVAL;
    if ((size_t)snprintf(key, sizeof(key), "%s%s%s", secret ? "sensitive." : "", prefix, bare) >=
        sizeof(key))
        return SL_ERR_INVAL;
    return sl_conf_set_cli(conf, key, name, value);
}

enum { IO_SRC = 1, IO_SINK = 2 };

/* The fields of Pulsar's SourceConfig and SinkConfig around `configs`, and what each means for
 * sluice: a Pulsar Functions worker reads them to deploy the connector, sluice is the deployed
 * process itself, so most describe a deployment that does not exist here. Each one present is
 * said in an info line rather than dropped without a word. NULL why: read by
 * pulsar_io_load. */
static const struct io_field {
    const char *name;
    int kinds;
    const char *why;
} io_fields[] = {
    {"configs", IO_SRC | IO_SINK, NULL},
    {"name", IO_SRC | IO_SINK, NULL},
    {"topicName", IO_SRC, NULL},
    {"inputs", IO_SINK, NULL},
    {"inputSpecs", IO_SINK, NULL},
    {"topicToSerdeClassName", IO_SINK, NULL},
    {"topicToSchemaType", IO_SINK, NULL},
    {"tenant", IO_SRC | IO_SINK, NULL},
    {"namespace", IO_SRC | IO_SINK, NULL},
    {"processingGuarantees", IO_SRC | IO_SINK, NULL},
    {"sourceSubscriptionName", IO_SINK, NULL},
    {"topicsPattern", IO_SINK, NULL},
    {"parallelism", IO_SRC | IO_SINK,
     "one sluice process is one instance; start more on the same subscription / lease table to "
     "scale"},
    {"resources", IO_SRC | IO_SINK,
     "the CPU, RAM and disk a Functions worker gives each instance; sluice runs in this process, "
     "limit it as any process (cgroups, ulimit)"},
    {"runtimeFlags", IO_SRC | IO_SINK,
     "flags for the Functions worker's process runtime; sluice is that process"},
    {"customRuntimeOptions", IO_SRC | IO_SINK,
     "options for the Functions worker's Kubernetes runtime; sluice is deployed as any program"},
    {"archive", IO_SRC | IO_SINK, "the connector's NAR: sluice has the connector built in"},
    {"className", IO_SRC | IO_SINK, "the connector's Java class: sluice has the connector built in"},
    {"secrets", IO_SRC | IO_SINK,
     "the Functions secrets provider's names; give secrets in configs, as ${ENV} references in "
     "-D values, or through the AWS credentials chain"},
    {"logTopic", IO_SRC | IO_SINK, "sluice logs to standard error, not to a topic"},
    {"serdeClassName", IO_SRC, "sluice writes the Kinesis record's bytes as the message"},
    {"schemaType", IO_SRC, "sluice writes the Kinesis record's bytes without a schema"},
    {"producerConfig", IO_SRC,
     "the Pulsar producer's settings: give them as -D systems.pulsar.pulsar.producer.*"},
    {"batchBuilder", IO_SRC,
     "batching is set with -D systems.pulsar.pulsar.producer.batching.*"},
    {"batchSourceConfig", IO_SRC, "for batch sources; the Kinesis sources are push sources"},
    {"sourceSubscriptionPosition", IO_SINK,
     "give it as -D systems.pulsar.streams.in.pulsar.subscription.initial-position"},
    {"autoAck", IO_SINK,
     "sluice acknowledges a message only after Kinesis stored it, whatever autoAck says"},
    {"retainOrdering", IO_SINK,
     "sluice reads with an Exclusive subscription (in order) unless "
     "systems.pulsar.streams.in.pulsar.subscription.type says otherwise"},
    {"retainKeyOrdering", IO_SINK,
     "per-key order across consumers is systems.pulsar.streams.in.pulsar.subscription.type="
     "Key_Shared"},
    {"timeoutMs", IO_SINK,
     "sluice sets no ack timeout: a message is acknowledged once Kinesis stored it, and one not "
     "acknowledged is delivered again after a reconnect"},
    {"negativeAckRedeliveryDelayMs", IO_SINK,
     "sluice does not negatively acknowledge: a record that fails goes to task.error.policy"},
    {"maxMessageRetries", IO_SINK,
     "a record that fails goes to task.error.policy (fail, skip or log) after the sink's own "
     "retries (sink.retry.*)"},
    {"deadLetterTopic", IO_SINK,
     "a record that fails goes to task.error.policy; sluice has no dead letter topic"},
    {"cleanupSubscription", IO_SINK, "sluice never deletes its subscription"},
    {"topicToSchemaProperties", IO_SINK, "sluice reads message bytes without a schema"},
    {"transformFunction", IO_SINK, "transform records with sluice's operators (task.operators)"},
    {"transformFunctionClassName", IO_SINK,
     "transform records with sluice's operators (task.operators)"},
    {"transformFunctionConfig", IO_SINK,
     "transform records with sluice's operators (task.operators)"},
    {NULL, 0, NULL},
};

/* Says what each field of a whole connector config besides its settings means here; an error
 * (returns -1) only for what cannot be run as written. */
static int explain_fields(io_ctx_t *x, yaml_document_t *doc, yaml_node_t *root, int kinds) {
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        const struct io_field *f;
        const char *name;
        char shown[128] = "";
        if (!k || !v || k->type != YAML_SCALAR_NODE)
            continue;
        name = (const char *)k->data.scalar.value;
        if (v->type == YAML_SCALAR_NODE)
            snprintf(shown, sizeof(shown), "=%.100s", (const char *)v->data.scalar.value);
        for (f = io_fields; f->name && strcmp(f->name, name); f++)
            ;
        if (!f->name) {
            sl_log(SL_LOG_WARN, "pulsar-io", "%s:%d: '%s' is not a field of a Pulsar IO %s "
                   "config; ignored", x->path, line_of(k), name,
                   kinds == IO_SRC ? "source" : "sink");
        } else if (!(f->kinds & kinds)) {
            sl_log(SL_LOG_WARN, "pulsar-io", "%s:%d: '%s' is a field of a Pulsar IO %s config, "
                   "not of a %s config; ignored", x->path, line_of(k), name,
                   kinds == IO_SRC ? "sink" : "source", kinds == IO_SRC ? "source" : "sink");
        } else if (f->why) {
            sl_log(SL_LOG_INFO, "pulsar-io", "%s:%d: %s%s: %s", x->path, line_of(k), name, shown,
                   f->why);
        } else if (!strcmp(name, "topicsPattern")) {
            sl_errf(x->errstr, x->errlen, "%s:%d: topicsPattern: sluice reads the topics named "
                    "in inputs (or --topic), not a pattern", x->path, line_of(k));
            return -1;
        } else if (!strcmp(name, "processingGuarantees")) {
            const char *g = v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : "";
            if (!strcmp(g, "ATLEAST_ONCE"))
                sl_log(SL_LOG_INFO, "pulsar-io", "%s:%d: %s%s: sluice's rule: a position is "
                       "checkpointed only after %s acknowledged every record read before it",
                       x->path, line_of(k), name, shown, kinds == IO_SRC ? "Pulsar" : "Kinesis");
            else if (!strcmp(g, "EFFECTIVELY_ONCE") && kinds == IO_SRC)
                sl_log(SL_LOG_INFO, "pulsar-io", "%s:%d: %s%s: after a lost connection the "
                       "producer sends again under the same name and sequence ids, which a broker "
                       "with deduplication enabled drops; records read again after a restart "
                       "(since the last checkpoint) are new messages: at-least-once",
                       x->path, line_of(k), name, shown);
            else if (!strcmp(g, "EFFECTIVELY_ONCE"))
                sl_log(SL_LOG_WARN, "pulsar-io", "%s:%d: %s%s: Kinesis has no deduplication: "
                       "a record may be written again after a failure or restart "
                       "(at-least-once)", x->path, line_of(k), name, shown);
            else if (!strcmp(g, "ATMOST_ONCE"))
                sl_log(SL_LOG_WARN, "pulsar-io", "%s:%d: %s%s: sluice is at-least-once: a "
                       "record is never dropped to avoid a duplicate, and after a failure "
                       "records since the last checkpoint are processed again",
                       x->path, line_of(k), name, shown);
            else {
                sl_errf(x->errstr, x->errlen, "%s:%d: processingGuarantees: expected one of "
                        "ATLEAST_ONCE, ATMOST_ONCE, EFFECTIVELY_ONCE, got '%s'", x->path,
                        line_of(v), g);
                return -1;
            }
        }
    }
    return 0;
}

/* Qualifies a short topic name with the config's tenant and namespace, as the Functions worker
 * does (heap; NULL when out of memory). */
static char *qualify_topic(yaml_document_t *doc, yaml_node_t *root, const char *topic) {
    yaml_node_t *t = map_get(doc, root, "tenant"), *ns = map_get(doc, root, "namespace");
    sl_sb_t sb = {0};
    if (strstr(topic, "://") || strchr(topic, '/') || !t || !ns || t->type != YAML_SCALAR_NODE ||
        ns->type != YAML_SCALAR_NODE || !t->data.scalar.length || !ns->data.scalar.length)
        return sl_strdup(topic);
    sl_sb_printf(&sb, "persistent://%s/%s/%s", (const char *)t->data.scalar.value,
                 (const char *)ns->data.scalar.value, topic);
    return sb.oom ? NULL : sb.buf;
}

sl_err_t pulsar_io_load(sl_conf_t *conf, const char *kind, const char *path, const char *topic,
                        const char *service_url, int topic_optional, char *errstr,
                        size_t errlen) {
    io_ctx_t x = {conf, path, errstr, errlen};
    FILE *fp = NULL;
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_node_t *root, *settings;
    int source, ddb = 0, have_doc = 0, tline = 0;
    sl_err_t err = SL_ERR_CONF;
    char *cfg_topic = NULL, *name = NULL, *subname = NULL, full[600];
    const char *url = service_url;

    if (!strcmp(kind, "kinesis-source")) {
        source = 1;
    } else if (!strcmp(kind, "kinesis-sink")) {
        source = 0;
    } else if (!strcmp(kind, "dynamodb-source")) {
        source = ddb = 1;
    } else {
        sl_errf(errstr, errlen, "--pulsar-io: unknown connector '%s' (kinesis-source, "
                "kinesis-sink or dynamodb-source)", kind);
        return SL_ERR_CONF;
    }
    if (!(fp = fopen(path, "rb"))) {
        sl_errf(errstr, errlen, "%s: cannot open: %s", path, strerror(errno));
        return SL_ERR_IO;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, fp);
    if (!yaml_parser_load(&parser, &doc)) {
        sl_errf(errstr, errlen, "%s:%lu: not valid JSON or YAML: %s", path,
                (unsigned long)parser.problem_mark.line + 1,
                parser.problem ? parser.problem : "syntax error");
        goto out;
    }
    have_doc = 1;
    root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        sl_errf(errstr, errlen, "%s: expected a map of settings (or a connector config with "
                "`configs`)", path);
        goto out;
    }
    /* A whole connector config carries the settings under `configs`, plus its name and topics. */
    settings = map_get(&doc, root, "configs");
    if (settings) {
        yaml_node_t *n = map_get(&doc, root, "name");
        if (settings->type != YAML_MAPPING_NODE) {
            sl_errf(errstr, errlen, "%s:%lu: `configs` must be a map", path,
                    (unsigned long)settings->start_mark.line + 1);
            goto out;
        }
        if (n && n->type == YAML_SCALAR_NODE && n->data.scalar.length)
            name = sl_strndup((const char *)n->data.scalar.value, n->data.scalar.length);
        if (explain_fields(&x, &doc, root, source ? IO_SRC : IO_SINK) < 0)
            goto out;
        if ((cfg_topic = config_topic(&doc, root, source, &tline))) {
            char *q = qualify_topic(&doc, root, cfg_topic);
            free(cfg_topic);
            if (!(cfg_topic = q)) {
                sl_errf(errstr, errlen, "out of memory");
                goto out;
            }
        }
        if (!source && (n = map_get(&doc, root, "sourceSubscriptionName")) &&
            n->type == YAML_SCALAR_NODE && n->data.scalar.length &&
            !(subname = sl_strndup((const char *)n->data.scalar.value, n->data.scalar.length))) {
            sl_errf(errstr, errlen, "out of memory");
            goto out;
        }
    } else {
        settings = root;
    }
    /* A source's topic is where it writes: listing its checkpoints needs none. */
    if (!topic && !cfg_topic && !(topic_optional && source)) {
        sl_errf(errstr, errlen, "%s: which Pulsar topic? give --topic NAME (Pulsar IO takes it "
                "from the connector's %s)", path, source ? "topicName" : "inputs");
        goto out;
    }
    if (!url || !*url)
        url = getenv("PULSAR_SERVICE_URL");
    if (!url || !*url)
        url = "pulsar://localhost:6650";

    /* The job. */
    snprintf(full, sizeof(full), "pulsar-io-%s", kind);
    if (set(&x, "job.name", name ? name : full, 0) < 0 ||
        set(&x, ddb ? "systems.dynamodb.samza.factory" : "systems.kinesis.samza.factory",
            ddb ? "dynamodbstreams" : "kinesis", 0) < 0 ||
        set(&x, "systems.pulsar.samza.factory", "pulsar", 0) < 0 ||
        set(&x, "systems.pulsar.pulsar.service-url", url, 0) < 0)
        goto out;
    if (source) {
        if (set(&x, "task.inputs", ddb ? "dynamodb.in" : "kinesis.in", 0) < 0 ||
            set(&x, "task.outputs", "pulsar.out", 0) < 0 ||
            ((topic || cfg_topic) &&
             set(&x, "systems.pulsar.streams.out.pulsar.topic", topic ? topic : cfg_topic,
                 topic ? 0 : tline) < 0) ||
            set_all(&x, &doc, settings, settings_prefix(kind)) < 0)
            goto out;
    } else {
        if (set(&x, "task.inputs", "pulsar.in", 0) < 0 ||
            set(&x, "task.outputs", "kinesis.out", 0) < 0 ||
            set(&x, "systems.pulsar.streams.in.pulsar.topic", topic ? topic : cfg_topic,
                topic ? 0 : tline) < 0 ||
            set(&x, "systems.pulsar.streams.in.pulsar.subscription.name",
                subname ? subname : name ? name : full, 0) < 0 ||
            set_all(&x, &doc, settings, settings_prefix(kind)) < 0)
            goto out;
    }
    err = SL_OK;
out:
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(fp);
    free(cfg_topic);
    free(subname);
    free(name);
    return err;
}
