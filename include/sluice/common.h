/*
 * sluice/common.h: what every public sluice header shares: the export macro, the one error type
 * and its strings, and the library version. Included by every other public header.
 */
#ifndef SLUICE_COMMON_H
#define SLUICE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define SL_EXPORT __attribute__((visibility("default")))
#define SL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SL_EXPORT
#define SL_PRINTF(f, a)
#endif

#define SL_VERSION_STR "0.1.0"
#define SL_VERSION_NUM 0x000100 /* 0xMMmmpp */

/* The one error type. Functions that can fail return it; constructors return NULL and fill an
 * errstr buffer instead. */
typedef enum sl_err {
    SL_OK = 0,
    SL_ERR_NOMEM = -1,    /* an allocation failed */
    SL_ERR_INVAL = -2,    /* a bad argument or value */
    SL_ERR_CONF = -3,     /* the configuration is invalid */
    SL_ERR_IO = -4,       /* a file or socket operation failed */
    SL_ERR_NOENT = -5,    /* the thing asked for does not exist */
    SL_ERR_STATE = -6,    /* the call is not valid in the current state */
    SL_ERR_RECORD = -7,   /* a record could not be processed */
    SL_ERR_RETRY = -8,    /* a transient failure: try again later */
    SL_ERR_ABI = -9,      /* a plugin was built for another ABI version */
    SL_ERR_DB = -10,      /* the checkpoint database failed */
    SL_ERR_STOPPED = -11, /* the job was stopped */
} sl_err_t;

/* A static, human-readable description of err. Never NULL, never to be freed. */
SL_EXPORT const char *sl_err_str(sl_err_t err);

/* The library's version string, e.g. "0.1.0". Static, never to be freed. */
SL_EXPORT const char *sl_version(void);

#ifdef __cplusplus
}
#endif
#endif
