/* placeholder (the formats helper replaces this file) */
#include <stdio.h>
#include "kinesis_format.h"
sl_err_t kin_format_encode(kin_fmt_t fmt, const sl_record_t *rec, uint8_t **out, size_t *outlen,
                           char *errstr, size_t errlen) {
    (void)fmt; (void)rec; (void)out; (void)outlen;
    snprintf(errstr, errlen, "not implemented yet");
    return SL_ERR_INVAL;
}
int kin_format_parse(const char *s, kin_fmt_t *out) { (void)s; (void)out; return -1; }
