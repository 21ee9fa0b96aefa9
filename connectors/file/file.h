/*
 * file.h: the embedded `file` system (newline-delimited files and directories; the consumer can
 * follow appended data and new files, the producer appends) and the line reader it shares with
 * the `stdio` system.
 */
#ifndef SL_FILE_H
#define SL_FILE_H

#include <stdint.h>

#include "sluice/system.h"

/* systems.<sys>.streams.<stream>.* of the file system. */
typedef struct file_stream_conf {
    char *path;
    char *include;
    int follow;
    int64_t poll_ms;
    int64_t discover_ms;
    int64_t read_buffer;
    int64_t max_record;
    int strip_cr;
    int format;   /* 0 payload, 1 json (producer: writes the envelope; consumer: reads it) */
    int partitions; /* producer: 0 one file at path, N a directory of N partition files */
    int fsync;    /* producer */
    int64_t write_buffer;
    int64_t write_linger_ms; /* producer */
} file_stream_conf_t;

extern const sl_prop_t file_stream_props[];

/* The system's stream_check: an input's path must exist (or, with follow, its directory). */
int file_stream_check(sl_conf_t *conf, const char *const *prefixes, void *stream_conf,
                      int input);

/* A line reader over a file descriptor: reads chunks into shared buffers and delivers each line
 * (without its newline) as a slice of the chunk. */
typedef struct sl_linereader {
    int fd;
    int64_t pos;        /* file offset of buf[start] */
    sl_buf_t *buf;      /* current chunk (NULL before the first read) */
    size_t start, end;  /* unread bytes: buf[start..end) */
    size_t chunk;       /* read size */
    size_t max_record;  /* longest line accepted */
    int strip_cr;
    int skipping;       /* discarding the rest of an oversized line */
    int check_ready;    /* poll() before each read (pipes, terminals): never block */
    int64_t skip_from;
} sl_linereader_t;

typedef enum {
    SL_LINE_OK,      /* off and len set: one line, starting at file offset at */
    SL_LINE_AGAIN,   /* no complete line buffered and nothing more to read now */
    SL_LINE_EOF,     /* end of file reached (a final line without newline was returned) */
    SL_LINE_TOOBIG,  /* a line longer than max_record starts at *at: skipped */
    SL_LINE_ERROR,   /* read failed: errno set */
} sl_line_t;

void sl_linereader_init(sl_linereader_t *lr, int fd, int64_t pos, size_t chunk, size_t max_record,
                        int strip_cr);
/* The next line. at_eof_final: when the file ends without a newline, return the partial line
 * as a record (bounded input) instead of waiting for more (followed input). */
sl_line_t sl_linereader_next(sl_linereader_t *lr, int at_eof_final, size_t *off, size_t *len,
                             int64_t *at);
void sl_linereader_free(sl_linereader_t *lr);

/* Consumer and producer callbacks (file_consumer.c, file_producer.c). */
sl_err_t file_discover(sl_input_t *in);
sl_err_t file_part_open(sl_part_t *part, const char *offset, int64_t subseq, void **statep);
sl_poll_t file_part_poll(sl_part_t *part, void *state, int max);
void file_part_close(sl_part_t *part, void *state);
sl_err_t file_out_open(sl_output_t *out, void **statep);
/* Opens a producer over an already open descriptor (taken over: closed by out_close). */
sl_err_t file_out_open_fd(sl_output_t *out, int fd, void **statep);
sl_err_t file_out_send(sl_output_t *out, void *state, sl_record_t *rec);
sl_err_t file_out_flush(sl_output_t *out, void *state, int sync);
void file_out_close(sl_output_t *out, void *state);

/* 64-bit FNV-1a of data[0..len): the partitioned producer writes a record with key k to file
 * file_fnv1a64(k) % partitions, a stable choice other programs can recompute. */
uint64_t file_fnv1a64(const void *data, size_t len);
/* The partition file of rec among n (n > 0): by its key's hash, 0 without a key. */
int file_partition_of(const sl_record_t *rec, int n);

/* The header that makes the partitioned producer write a record to every partition file. */
#define FILE_BROADCAST_HEADER "sluice.broadcast"

/* Writes rec as one JSON object line (payload as a string when it is valid UTF-8 JSON text is
 * not assumed: payload is escaped as a JSON string) into sb. */
struct sl_sb;
void file_format_json(struct sl_sb *sb, const sl_record_t *rec);

#endif
