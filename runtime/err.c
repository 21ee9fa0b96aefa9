/*
 * err.c: the strings of the one error type (sl_err_t) and the library version.
 */
#include "sluice/common.h"

const char *sl_err_str(sl_err_t err) {
    switch (err) {
    case SL_OK: return "success";
    case SL_ERR_NOMEM: return "out of memory";
    case SL_ERR_INVAL: return "invalid argument";
    case SL_ERR_CONF: return "invalid configuration";
    case SL_ERR_IO: return "input/output error";
    case SL_ERR_NOENT: return "not found";
    case SL_ERR_STATE: return "invalid state";
    case SL_ERR_RECORD: return "record processing failed";
    case SL_ERR_RETRY: return "transient failure";
    case SL_ERR_ABI: return "plugin ABI version mismatch";
    case SL_ERR_DB: return "checkpoint database error";
    case SL_ERR_STOPPED: return "stopped";
    }
    return "unknown error";
}

const char *sl_version(void) {
    return SL_VERSION_STR;
}
