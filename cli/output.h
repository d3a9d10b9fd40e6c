/*
 * microctl output: JSON for --json, aligned tables and field text for
 * people.
 */
#ifndef MICRO_OUTPUT_H
#define MICRO_OUTPUT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <msgpack.h>

#include "cmd.h"

/* Print a reply's data (NULL prints null) or a JSON value, indented. */
enum cmd_status	 output_json(const msgpack_object *);
enum cmd_status	 output_json_value(const json_t *);
/* A JSON object on a line of its own, as a stream prints them. */
enum cmd_status	 output_json_line(const json_t *);

/* A scalar field of a msgpack map as text; "-" when missing or null. */
const char	*output_field(const msgpack_object *, const char *, char *,
		    size_t);
int64_t		 output_field_int(const msgpack_object *, const char *);
/* 93784 -> "1d2h3m4s". */
const char	*output_duration(int64_t, char *, size_t);
/* Unix seconds as local "YYYY-MM-DD HH:MM:SS". */
const char	*output_time(int64_t, char *, size_t);

/*
 * Text for people: one line, and table cells. Control characters of the
 * data are shown as '?' (lib/termtext.c), so nothing a registration
 * holds can drive the terminal; widths are display columns.
 */
void		 output_line(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
/* Formatted and made printable, allocated; cols (or NULL) its width. */
char		*output_vtext(int *, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));

/* Columns are as wide as their widest cell; the last is not padded. */
struct output_table;
struct output_table *output_table_new(size_t, const char *const *);
void		 output_table_cell(struct output_table *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 output_table_print(struct output_table *);	/* and free */

#endif
