/*
 * file_conf.c: the property table of the `file` system's streams (consumer and producer keys
 * share one table: a stream can be read by one job and written by another).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "sluice/log.h"
#include "util_str.h"

#define FO(f) offsetof(file_stream_conf_t, f)

const sl_prop_t file_stream_props[] = {
    {"path", SL_PROP_STRING, FO(path), "", 0, 0, NULL, 0,
     "File or directory to read, or file to append to. Empty: the stream name is the path."},
    {"include", SL_PROP_STRING, FO(include), "*", 0, 0, NULL, 0,
     "When path is a directory, the shell pattern of the file names to read (e.g. *.jsonl); "
     "each file is a partition."},
    {"follow", SL_PROP_BOOL, FO(follow), "false", 0, 0, NULL, 0,
     "Keep reading: wait for appended lines and new files (like tail -F), and for an input "
     "path that does not exist yet in a directory that does. Without it the input ends at "
     "the end of its files and the job finishes, and its path must exist."},
    {"poll.interval", SL_PROP_DURATION, FO(poll_ms), "200ms", 1, 3600000.0, NULL, 0,
     "With follow: how often a file at its end is checked for new data."},
    {"discover.interval", SL_PROP_DURATION, FO(discover_ms), "1s", 10, 3600000.0, NULL, 0,
     "With follow: how often the directory is listed for new files."},
    {"read.buffer.size", SL_PROP_SIZE, FO(read_buffer), "256K", 4096, 1073741824.0, NULL, 0,
     "Bytes read per system call; lines are shared slices of these buffers."},
    {"max.record.size", SL_PROP_SIZE, FO(max_record), "1M", 16, 1073741824.0, NULL, 0,
     "Longest line accepted. A longer line is a bad record (see task.error.policy), named by "
     "file and byte offset."},
    {"strip.cr", SL_PROP_BOOL, FO(strip_cr), "true", 0, 0, NULL, 0,
     "Drop the carriage return of CRLF line ends."},
    {"format", SL_PROP_ENUM, FO(format), "payload", 0, 0, "payload|json", 0,
     "payload: a line is a record's payload. json: a line is a JSON object (an envelope) with "
     "key, payload, headers, event_time and source metadata (system, stream, partition, offset, "
     "subseq). Producer: what each record is written as. Consumer: with json each line must be "
     "such an envelope, and the record delivered has its key (null: none), payload (a string), "
     "headers (an object of strings) and event_time (an integer, ms); its offset is still the "
     "line's byte offset in the file read. A line that is not a valid envelope is a bad record "
     "(see task.error.policy)."},
    {"partitions", SL_PROP_INT, FO(partitions), "0", 0, 4096, NULL, 0,
     "Producer: 0 appends to the single file at path. N > 0 makes path a directory (created if "
     "missing) of N files partition-00000 .. partition-<N-1> (5 digits), all created when the "
     "output opens; a record goes to file FNV-1a-64(key bytes) % N (offset basis "
     "0xcbf29ce484222325, prime 0x100000001b3; no key: partition 0), and a record with the "
     "header sluice.broadcast (any value) to every file, acknowledged once all its copies are "
     "written. Consumers read the directory as usual: one partition per file."},
    {"fsync", SL_PROP_BOOL, FO(fsync), "false", 0, 0, NULL, 0,
     "Producer: fdatasync before acknowledging, so committed input survives power loss and not "
     "only a crash of the process."},
    {"write.buffer.size", SL_PROP_SIZE, FO(write_buffer), "1M", 4096, 1073741824.0, NULL, 0,
     "Producer: bytes buffered before a write; buffered records are acknowledged once written. "
     "With partitions, the total over all the files' buffers (all are written together)."},
    {"write.linger", SL_PROP_DURATION, FO(write_linger_ms), "100ms", 0, 3600000.0, NULL, 0,
     "Producer: longest time a record waits in the buffer before it is written (the first "
     "record of a buffer starts the clock), so output shows at once even when the input is "
     "a trickle; 0 writes at the end of every poll batch. Plain numbers are milliseconds."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

/* Whether key holds a secret (a path under sensitive.): then errors do not show it, not even
 * its directory, which log scrubbing (whole values only) would not catch. */
static int is_secret(const sl_conf_t *conf, const char *key) {
    sl_conf_entry_t e;
    for (int i = 0; sl_conf_entry(conf, i, &e) == SL_OK; i++)
        if (!strcmp(e.key, key))
            return e.secret;
    return 0;
}

/* An input's path must be there when the job starts, or `config check` passes a job that `run`
 * then fails on. With follow=true a path that does not exist yet is waited for (a file or
 * directory a program creates later), but only in a directory that exists: a path whose
 * directory is missing too is far more often a typo than something about to appear, and would
 * wait forever without a word. */
int file_stream_check(sl_conf_t *conf, const char *const *prefixes, void *stream_conf,
                      int input) {
    const file_stream_conf_t *c = stream_conf;
    const char *p0 = prefixes && prefixes[0] ? prefixes[0] : "";
    const char *s = strstr(p0, ".streams."), *path = c->path;
    char key[512], stream[256], dir[4096];
    const char *path_shown;
    struct stat st;
    int set;

    if (!input)
        return 0;
    set = sl_conf_user_key(conf, file_stream_props, prefixes, "path", key, sizeof(key));
    if (!path || !*path) { /* the stream's name is the path */
        size_t n = s ? strlen(s + 9) : 0;
        snprintf(stream, sizeof(stream), "%.*s", n ? (int)n - 1 : 0, s ? s + 9 : "");
        path = stream;
        if (!set)
            snprintf(key, sizeof(key), "task.inputs");
    }
    path_shown = path;
    if (is_secret(conf, key))
        path_shown = "(secret)";
    if (stat(path, &st) == 0) {
        if (access(path, R_OK | (S_ISDIR(st.st_mode) ? X_OK : 0)) != 0) {
            sl_conf_error(conf, key, "cannot read '%s': %s", path_shown, strerror(errno));
            return 1;
        }
        return 0;
    }
    if (errno != ENOENT || !c->follow) {
        sl_conf_error(conf, key, "input path '%s': %s%s", path_shown, strerror(errno),
                      errno == ENOENT ? " (with follow=true the job would wait for it)" : "");
        return 1;
    }
    snprintf(dir, sizeof(dir), "%s", path);
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        dir[--n] = '\0';
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else
        slash[slash == dir ? 1 : 0] = '\0';
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        sl_conf_error(conf, key, "input path '%s' does not exist, nor does its directory '%s' "
                      "(follow=true waits for a path to appear, not for its directory)",
                      path_shown, path_shown == path ? dir : "(secret)");
        return 1;
    }
    sl_log(SL_LOG_INFO, "file", "input path '%s' does not exist yet: with follow=true the job "
           "waits for it", path_shown);
    return 0;
}
