/* placeholder API (the formats helper replaces this file) */
#ifndef SL_KINESIS_FORMAT_H
#define SL_KINESIS_FORMAT_H
#include <stddef.h>
#include <stdint.h>
#include "sluice/record.h"
typedef enum { KIN_FMT_RAW = 0, KIN_FMT_JSON = 1, KIN_FMT_FB = 2 } kin_fmt_t;
sl_err_t kin_format_encode(kin_fmt_t fmt, const sl_record_t *rec, uint8_t **out, size_t *outlen,
                           char *errstr, size_t errlen);
int kin_format_parse(const char *s, kin_fmt_t *out);
#endif
