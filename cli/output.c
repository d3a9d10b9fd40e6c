#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "log.h"
#include "mpjson.h"
#include "output.h"
#include "termtext.h"
#include "util.h"

struct output_table {
	size_t	  ncols;
	size_t	  ncells;
	char	**cells;	/* row after row, headers first, printable */
	int	 *cols;		/* each cell's display width */
	int	 *width;	/* each column's */
};

static enum cmd_status
output_json_print(const json_t *v, size_t flags)
{
	if (json_dumpf(v, stdout, flags) == -1) {
		/* Output lost: microctl_flush() says so, on one line. */
		if (ferror(stdout))
			return CMD_ERROR;
		return cmd_error("cannot print JSON");
	}
	putchar('\n');
	return CMD_OK;
}

enum cmd_status
output_json_value(const json_t *v)
{
	return output_json_print(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
}

enum cmd_status
output_json_line(const json_t *v)
{
	return output_json_print(v, JSON_COMPACT);
}

enum cmd_status
output_json(const msgpack_object *data)
{
	enum cmd_status	 rv;
	const char	*cause;
	json_t		*v;

	if (data == NULL)
		return output_json_value(json_null());
	if ((v = mpjson_from_msgpack(data, &cause)) == NULL)
		return cmd_error("microd sent data with no JSON form: %s",
		    cause);
	rv = output_json_value(v);
	json_decref(v);
	return rv;
}

const char *
output_field(const msgpack_object *map, const char *key, char *buf,
    size_t len)
{
	static const msgpack_object	 nil = { .type = MSGPACK_OBJECT_NIL };
	const msgpack_object		*o;

	if ((o = ctl_map_get(map, key)) == NULL)
		o = &nil;
	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		snprintf(buf, len, "%.*s", (int)o->via.str.size,
		    o->via.str.ptr);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		snprintf(buf, len, "%" PRIu64, o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		snprintf(buf, len, "%" PRId64, o->via.i64);
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		snprintf(buf, len, "%s", o->via.boolean ? "yes" : "no");
		break;
	default:
		snprintf(buf, len, "-");
		break;
	}
	return buf;
}

int64_t
output_field_int(const msgpack_object *map, const char *key)
{
	int64_t	 v;

	if (ctl_obj_int(ctl_map_get(map, key), &v) == -1)
		return 0;
	return v;
}

const char *
output_duration(int64_t secs, char *buf, size_t len)
{
	static const struct {
		char	 unit;
		int64_t	 secs;
	} units[] = { { 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 } };
	size_t	 i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < nitems(units) && off < len; i++) {
		if (secs < units[i].secs && !(units[i].secs == 1 && off == 0))
			continue;
		off += snprintf(buf + off, len - off, "%" PRId64 "%c",
		    secs / units[i].secs, units[i].unit);
		secs %= units[i].secs;
	}
	return buf;
}

const char *
output_time(int64_t secs, char *buf, size_t len)
{
	time_t		 t = (time_t)secs;
	struct tm	 tm;

	if (secs <= 0 || localtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, len, "-");
	return buf;
}

struct output_table *
output_table_new(size_t ncols, const char *const *headers)
{
	struct output_table	*t;
	size_t			 i;

	t = xcalloc(1, sizeof(*t));
	t->ncols = ncols;
	t->width = xcalloc(ncols, sizeof(*t->width));
	for (i = 0; i < ncols; i++)
		output_table_cell(t, "%s", headers[i]);
	return t;
}

char *
output_vtext(int *cols, const char *fmt, va_list ap)
{
	char	*s;
	int	 n;

	if (vasprintf(&s, fmt, ap) == -1)
		fatal("vasprintf");
	n = termtext_fit(s, -1, s, strlen(s) + 1);
	if (cols != NULL)
		*cols = n;
	return s;
}

void
output_line(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	s = output_vtext(NULL, fmt, ap);
	va_end(ap);
	printf("%s\n", s);
	free(s);
}

void
output_table_cell(struct output_table *t, const char *fmt, ...)
{
	va_list	 ap;
	size_t	 col = t->ncells % t->ncols;

	t->cells = xrealloc(t->cells, (t->ncells + 1) * sizeof(*t->cells));
	t->cols = xrealloc(t->cols, (t->ncells + 1) * sizeof(*t->cols));
	va_start(ap, fmt);
	t->cells[t->ncells] = output_vtext(&t->cols[t->ncells], fmt, ap);
	va_end(ap);
	if (t->cols[t->ncells] > t->width[col])
		t->width[col] = t->cols[t->ncells];
	t->ncells++;
}

void
output_table_print(struct output_table *t)
{
	size_t	 i, col;

	for (i = 0; i < t->ncells; i++) {
		col = i % t->ncols;
		if (col == t->ncols - 1 || i == t->ncells - 1)
			printf("%s\n", t->cells[i]);
		else
			printf("%s%*s  ", t->cells[i],
			    t->width[col] - t->cols[i], "");
		free(t->cells[i]);
	}
	free(t->cells);
	free(t->cols);
	free(t->width);
	free(t);
}
