/*
 * microctl: talk to the microd master over its control socket
 * (doc/control-protocol.md). Options are parsed here for every command,
 * before and after the command name; the command then runs from cmd_table.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "log.h"
#include "util.h"

static const struct cmd_entry *cmd_table[] = {
	&cmd_status_entry,
	&cmd_workers_entry,
	&cmd_services_entry,
	&cmd_service_entry,
	&cmd_register_entry,
	&cmd_deregister_entry,
	&cmd_call_entry,
	&cmd_health_entry,
	&cmd_reload_entry,
	&cmd_stop_entry,
	&cmd_restart_entry,
	&cmd_logs_entry,
	&cmd_version_entry,
	&cmd_publish_entry,
	&cmd_subscribe_entry,
};

enum {
	OPT_PROXY_ADDRESS = 256,
	OPT_TTL,
	OPT_QUEUE,
	OPT_TIMEOUT,
};

static const struct option microctl_longopts[] = {
	{ "follow",		no_argument,		NULL, 'f' },
	{ "help",		no_argument,		NULL, 'h' },
	{ "json",		no_argument,		NULL, 'j' },
	{ "level",		required_argument,	NULL, 'l' },
	{ "lines",		required_argument,	NULL, 'n' },
	{ "socket",		required_argument,	NULL, 's' },
	{ "proxy-address",	required_argument,	NULL, OPT_PROXY_ADDRESS },
	{ "ttl",		required_argument,	NULL, OPT_TTL },
	{ "queue",		required_argument,	NULL, OPT_QUEUE },
	{ "timeout",		required_argument,	NULL, OPT_TIMEOUT },
	{ NULL,			0,			NULL, 0 },
};

static void
microctl_usage(FILE *f)
{
	size_t	 i;

	fprintf(f, "usage: microctl [-hj] [-s socket] [--proxy-address "
	    "host:port] [--timeout duration]\n                command [arg ...]\n"
	    "commands:\n");
	for (i = 0; i < nitems(cmd_table); i++)
		fprintf(f, "    %s%s%s\n", cmd_table[i]->name,
		    *cmd_table[i]->usage != '\0' ? " " : "",
		    cmd_table[i]->usage);
}

/* "HOST:PORT" with a non-empty host and a numeric port. */
static int
microctl_check_hostport(const char *s)
{
	const char	*colon = strrchr(s, ':');
	const char	*p;

	if (colon == NULL || colon == s || colon[1] == '\0' ||
	    strlen(colon + 1) > 5)
		return -1;
	for (p = colon + 1; *p != '\0'; p++)
		if (!isdigit((unsigned char)*p))
			return -1;
	return atoi(colon + 1) <= 65535 ? 0 : -1;
}

/* Output lost (a full disk, a closed pipe with SIGPIPE ignored) fails. */
static enum cmd_status
microctl_flush(enum cmd_status rv)
{
	const char	*why;

	if ((why = util_stdout_lost()) != NULL)
		return cmd_error("cannot write output: %s", why);
	return rv;
}

/* One option; -1 if it is bad (the message is printed). */
static int
microctl_option(struct cmd_opts *opts, int ch, const char *arg)
{
	switch (ch) {
	case 'f':
		opts->follow = 1;
		return 0;
	case 'h':
		microctl_usage(stdout);
		exit(microctl_flush(CMD_OK));
	case 'j':
		opts->json = 1;
		return 0;
	case 'l':
		opts->level = optarg;
		return 0;
	case 'n':
		opts->lines = optarg;
		return 0;
	case 's':
		/* "" would name a Linux abstract socket anyone may bind. */
		if (*optarg == '\0') {
			cmd_error("the socket path is empty");
			return -1;
		}
		opts->socket = optarg;
		return 0;
	case OPT_PROXY_ADDRESS:
		if (microctl_check_hostport(optarg) == -1) {
			cmd_error("bad --proxy-address '%s' (want HOST:PORT)",
			    optarg);
			return -1;
		}
		opts->proxy_address = optarg;
		return 0;
	case OPT_TTL:
		if (util_parse_duration_ms(optarg, &opts->ttl_ms) == -1) {
			cmd_error("bad --ttl '%s' (want e.g. 30s, 5m)", optarg);
			return -1;
		}
		opts->has_ttl = 1;
		return 0;
	case OPT_QUEUE:
		opts->queue = optarg;
		return 0;
	case OPT_TIMEOUT:
		if (util_parse_duration_ms(optarg, &opts->timeout_ms) == -1 ||
		    opts->timeout_ms == 0 || opts->timeout_ms > LONG_MAX / 2) {
			cmd_error("bad --timeout '%s' (want e.g. 10s, 2m)",
			    optarg);
			return -1;
		}
		opts->has_timeout = 1;
		return 0;
	case ':':
		cmd_error("option '%s' needs an argument", arg);
		return -1;
	default:
		cmd_error("unknown option '%s'", arg);
		return -1;
	}
}

#define MICROCTL_SHORT	"fhjl:n:s:"

/*
 * The option getopt stopped at: the bad letter of "-jx" or "-xj", or the
 * "--long" word. Inside a cluster optind has not moved past the word yet,
 * so argv[optind - 1] is the word before: trust optopt for short options.
 * A letter that is one of ours, or none, means a long word was wrong.
 */
static const char *
microctl_badopt(int ch, char **argv, char *buf, size_t len)
{
	const char	*arg = argv[optind - 1];
	int		 letter = optopt > 0 && optopt < 256 &&
			    strncmp(arg, "--", 2) != 0;

	if (ch == '?')
		letter = optopt > 0 && optopt < 256 &&
		    strchr(MICROCTL_SHORT, optopt) == NULL;
	if (letter) {
		snprintf(buf, len, "-%c", optopt);
		return buf;
	}
	return arg;
}

/*
 * Parse options until the first non-option with "+", or over all of argv,
 * moving non-options to the end (GNU getopt) without it. Returns optind.
 */
static int
microctl_options(struct cmd_opts *opts, int argc, char **argv, int inorder)
{
	char	 buf[3];
	int	 ch;

	optind = 0;	/* glibc: start over, argv may be a new array */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, inorder ? "+:" MICROCTL_SHORT :
	    ":" MICROCTL_SHORT, microctl_longopts, NULL)) != -1) {
		if (microctl_option(opts, ch,
		    microctl_badopt(ch, argv, buf, sizeof(buf))) == -1)
			return -1;
	}
	return optind;
}

/* How many words of argv name the command: 1, an alias's length, or 0. */
static size_t
microctl_match(const struct cmd_entry *entry, int argc, char **argv)
{
	const char	*alias = entry->alias;
	size_t		 words = 0, len;

	if (strcmp(argv[0], entry->name) == 0)
		return 1;
	while (alias != NULL && *alias != '\0') {
		len = strcspn(alias, " ");
		if ((int)words >= argc || strlen(argv[words]) != len ||
		    strncmp(argv[words], alias, len) != 0)
			return 0;
		words++;
		alias += len + strspn(alias + len, " ");
	}
	return words;
}

static const struct cmd_entry *
microctl_find(int argc, char **argv, size_t *words)
{
	size_t	 i;

	for (i = 0; i < nitems(cmd_table); i++) {
		if ((*words = microctl_match(cmd_table[i], argc, argv)) > 0)
			return cmd_table[i];
	}
	return NULL;
}

static enum cmd_status
microctl_check(const struct cmd_ctx *ctx)
{
	const struct cmd_entry	*entry = ctx->entry;

	if (ctx->opts->proxy_address != NULL &&
	    (entry->flags & CMD_F_PROXY) == 0) {
		cmd_error("--proxy-address is not supported by '%s'",
		    entry->name);
		return CMD_USAGE;
	}
	if (ctx->opts->has_ttl && (entry->flags & CMD_F_TTL) == 0) {
		cmd_error("--ttl is not supported by '%s'", entry->name);
		return CMD_USAGE;
	}
	/* Only HTTP requests have a timeout to set. */
	if (ctx->opts->has_timeout && (entry->flags & CMD_F_HTTP) == 0 &&
	    ctx->opts->proxy_address == NULL) {
		cmd_error("--timeout is not supported by '%s'%s", entry->name,
		    entry->flags & CMD_F_PROXY ? " without --proxy-address" :
		    "");
		return CMD_USAGE;
	}
	if (ctx->opts->queue != NULL && (entry->flags & CMD_F_QUEUE) == 0) {
		cmd_error("--queue is not supported by '%s'", entry->name);
		return CMD_USAGE;
	}
	if ((ctx->opts->follow || ctx->opts->lines != NULL ||
	    ctx->opts->level != NULL) && (entry->flags & CMD_F_LOGS) == 0) {
		cmd_error("-f, -n and -l are only for 'logs'");
		return CMD_USAGE;
	}
	if (ctx->argc < entry->minargs ||
	    (entry->maxargs != -1 && ctx->argc > entry->maxargs))
		return cmd_usage(entry);
	return CMD_OK;
}

static enum cmd_status
microctl_run(struct cmd_ctx *ctx)
{
	enum cmd_status	 rv;

	if ((rv = microctl_check(ctx)) != CMD_OK)
		return rv;
	rv = ctx->entry->exec(ctx);
	ctl_msg_free(&ctx->reply);
	ctlclient_free(ctx->client);
	return microctl_flush(rv);
}

/*
 * argv[0] is the first command word and argv[first..] the words that are
 * not options: make them one run, the rest of a command named by an
 * alias ("list services") being among them, options or not in between.
 */
static char **
microctl_words(int argc, char **argv, int first, int *nwords)
{
	argv[first - 1] = argv[0];
	*nwords = argc - first + 1;
	return argv + first - 1;
}

int
main(int argc, char **argv)
{
	struct cmd_opts		 opts;
	struct cmd_ctx		 ctx;
	size_t			 words;
	int			 n, bad;

	if (util_hold_stdio() == -1)
		exit(cmd_error("/dev/null: %s", strerror(errno)));
	log_init("microctl", LOG_LEVEL_WARN);
	util_stdout_keep();
	/* Widths of UTF-8 names in the tables; numbers stay "C". */
	setlocale(LC_CTYPE, "");
	memset(&opts, 0, sizeof(opts));
	memset(&ctx, 0, sizeof(ctx));
	if ((n = microctl_options(&opts, argc, argv, 1)) == -1) {
		microctl_usage(stderr);
		return CMD_USAGE;
	}
	argc -= n;
	argv += n;
	if (argc == 0) {
		microctl_usage(stderr);
		return CMD_USAGE;
	}
	/* The first command word stands in for argv[0]. */
	bad = (n = microctl_options(&opts, argc, argv, 0)) == -1;
	/* After a bad option the words are as far as getopt got. */
	argv = microctl_words(argc, argv, bad ? optind : n, &argc);
	ctx.entry = microctl_find(argc, argv, &words);
	if (bad && ctx.entry != NULL)
		return cmd_usage(ctx.entry);
	if (ctx.entry == NULL) {
		if (!bad)
			cmd_error("unknown command '%s'", argv[0]);
		microctl_usage(stderr);
		return CMD_USAGE;
	}
	if (opts.socket == NULL)
		opts.socket = ctlclient_default_path();
	ctx.opts = &opts;
	ctx.argc = argc - (int)words;
	ctx.argv = argv + words;
	return microctl_run(&ctx);
}
