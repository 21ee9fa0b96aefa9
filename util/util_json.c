/* util_json.c: see util_json.h. */
#include "util_json.h"

#include <stdlib.h>

#include "util_str.h"

/* A failed append sticks in the builder and ends the dump (jansson stops at a -1). */
static int dump_to_sb(const char *buf, size_t size, void *data) {
    sl_sb_t *sb = data;
    sl_sb_append(sb, buf, size);
    return sb->oom ? -1 : 0;
}

char *util_json_dumps(const json_t *json, size_t flags) {
    sl_sb_t sb = {0};
    if (!json || json_dump_callback(json, dump_to_sb, &sb, flags) || sb.oom || !sb.buf) {
        sl_sb_free(&sb);
        return NULL;
    }
    return sb.buf;
}
