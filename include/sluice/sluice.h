/*
 * sluice/sluice.h: the umbrella header of libsluice. Embedders and operator authors include
 * this one file and link with `pkg-config --cflags --libs sluice`.
 */
#ifndef SLUICE_H
#define SLUICE_H

#include "common.h"
#include "checkpoint.h"
#include "conf.h"
#include "host.h"
#include "job.h"
#include "log.h"
#include "operator.h"
#include "partitioner.h"
#include "record.h"
#include "state.h"
#include "system.h"

#endif
