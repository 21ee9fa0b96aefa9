/*
 * kinesis_datefmt.h: start timestamps as Flink and the KCL write them (kinesis_datefmt.c):
 * epoch seconds, a Java SimpleDateFormat pattern, ISO 8601. Pure functions, any thread.
 */

#ifndef SL_KINESIS_DATEFMT_H
#define SL_KINESIS_DATEFMT_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/common.h"

/* Parses ts as a point in time into *ms: epoch seconds (integer or with a fraction, Flink's and
 * the KCL's numeric form), or a date in the Java SimpleDateFormat pattern fmt (NULL or "": the
 * Flink default yyyy-MM-dd'T'HH:mm:ss.SSSXXX; letters supported: y M d H m s S X Z z('Z'/'UTC')
 * and quoted literals), or ISO 8601 with a zone as a fallback when fmt is the default. Returns
 * SL_OK or SL_ERR_INVAL with errstr naming what did not match. */
sl_err_t kin_parse_time(const char *ts, const char *fmt, int64_t *ms, char *errstr,
                        size_t errlen);

#endif
