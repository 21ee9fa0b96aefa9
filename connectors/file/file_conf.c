/*
 * file_conf.c: the property table of the `file` system's streams (consumer and producer keys
 * share one table: a stream can be read by one job and written by another).
 */
#include <stddef.h>

#include "file.h"

#define FO(f) offsetof(sl_file_stream_conf_t, f)

const sl_prop_t sl_file_stream_props[] = {
    {"path", SL_PROP_STRING, FO(path), "", 0, 0, NULL, 0,
     "File or directory to read, or file to append to. Empty: the stream name is the path."},
    {"include", SL_PROP_STRING, FO(include), "*", 0, 0, NULL, 0,
     "When path is a directory, the shell pattern of the file names to read (e.g. *.jsonl); "
     "each file is a partition."},
    {"follow", SL_PROP_BOOL, FO(follow), "false", 0, 0, NULL, 0,
     "Keep reading: wait for appended lines and new files (like tail -F). Without it the "
     "input ends at the end of its files and the job finishes."},
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
     "Producer: write each record's payload as a line, or a JSON object with key, payload, "
     "headers, event time and source metadata."},
    {"fsync", SL_PROP_BOOL, FO(fsync), "false", 0, 0, NULL, 0,
     "Producer: fdatasync before acknowledging, so committed input survives power loss and not "
     "only a crash of the process."},
    {"write.buffer.size", SL_PROP_SIZE, FO(write_buffer), "1M", 4096, 1073741824.0, NULL, 0,
     "Producer: bytes buffered before a write; buffered records are acknowledged once written."},
    {"write.linger", SL_PROP_DURATION, FO(write_linger_ms), "100ms", 0, 3600000.0, NULL, 0,
     "Producer: longest time a record waits in the buffer before it is written (the first "
     "record of a buffer starts the clock), so output shows at once even when the input is "
     "a trickle; 0 writes at the end of every poll batch. Plain numbers are milliseconds."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};
