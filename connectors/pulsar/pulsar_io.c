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
 * (awsCredentialPluginParam written as a map) is passed on as JSON text.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "conf_int.h"
#include "pulsar_io.h"
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
    s = j ? json_dumps(j, JSON_COMPACT) : NULL;
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

/* A topic from the config: topicName (a source's output) or the first of inputs (a sink's). */
static char *config_topic(yaml_document_t *doc, yaml_node_t *root, const char *field, int *line) {
    yaml_node_t *t = map_get(doc, root, field);
    if (t && t->type == YAML_SEQUENCE_NODE && t->data.sequence.items.start < t->data.sequence.items.top)
        t = yaml_document_get_node(doc, *t->data.sequence.items.start);
    if (!t || t->type != YAML_SCALAR_NODE || !t->data.scalar.length)
        return NULL;
    *line = (int)t->start_mark.line + 1;
    return sl_strndup((const char *)t->data.scalar.value, t->data.scalar.length);
}

sl_err_t sl_pulsar_io_load(sl_conf_t *conf, const char *kind, const char *path, const char *topic,
                           const char *service_url, char *errstr, size_t errlen) {
    io_ctx_t x = {conf, path, errstr, errlen};
    FILE *fp = NULL;
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_node_t *root, *settings;
    int source, ddb = 0, have_doc = 0, tline = 0;
    sl_err_t err = SL_ERR_CONF;
    char *cfg_topic = NULL, *name = NULL, full[600];
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
        cfg_topic = config_topic(&doc, root, source ? "topicName" : "inputs", &tline);
    } else {
        settings = root;
    }
    if (!topic && !cfg_topic) {
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
            set(&x, "systems.pulsar.streams.out.pulsar.topic", topic ? topic : cfg_topic,
                topic ? 0 : tline) < 0 ||
            set_all(&x, &doc, settings,
                    ddb ? "systems.dynamodb.streams.in." : "systems.kinesis.streams.in.") < 0)
            goto out;
    } else {
        if (set(&x, "task.inputs", "pulsar.in", 0) < 0 ||
            set(&x, "task.outputs", "kinesis.out", 0) < 0 ||
            set(&x, "systems.pulsar.streams.in.pulsar.topic", topic ? topic : cfg_topic,
                topic ? 0 : tline) < 0 ||
            set(&x, "systems.pulsar.streams.in.pulsar.subscription.name", name ? name : full, 0) < 0 ||
            set_all(&x, &doc, settings, "systems.kinesis.streams.out.") < 0)
            goto out;
    }
    err = SL_OK;
out:
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(fp);
    free(cfg_topic);
    free(name);
    return err;
}
