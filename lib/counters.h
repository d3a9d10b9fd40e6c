/*
 * Live counters of one worker. They sit in its shm slot: the worker is the
 * only writer (relaxed atomic adds), the master, microctl (through the master)
 * and /metrics read them without asking the worker.
 */
#ifndef MICRO_COUNTERS_H
#define MICRO_COUNTERS_H

#include <stdint.h>

struct micro_counters {
	uint64_t	 requests;	/* requests answered */
	uint64_t	 errors;	/* 5xx answers and protocol errors */
	uint64_t	 bytes_in;
	uint64_t	 bytes_out;
	uint64_t	 connections;	/* open now (gauge) */
	uint64_t	 reserved[3];
};

#define COUNTER_ADD(c, field, n)					\
	__atomic_fetch_add(&(c)->field, (n), __ATOMIC_RELAXED)
#define COUNTER_SUB(c, field, n)					\
	__atomic_fetch_sub(&(c)->field, (n), __ATOMIC_RELAXED)
#define COUNTER_GET(c, field)						\
	__atomic_load_n(&(c)->field, __ATOMIC_RELAXED)

#endif
