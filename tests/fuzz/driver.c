/*
 * The fuzz harnesses without libFuzzer (tests/fuzz/README.md). Run with no
 * argument, fuzz_NAME replays every file of its seed corpus,
 * $srcdir/tests/fuzz/corpus/NAME/, then runs FUZZ_ITERATIONS deterministic
 * mutations of those seeds (FUZZ_SEED picks another sequence), for at
 * most FUZZ_SECONDS. With arguments it replays just those files: how a
 * crash it saved is reproduced.
 *
 * An input that crashes, trips a sanitizer or takes longer than
 * FUZZ_INPUT_SECONDS is saved as ./fuzz-NAME.crash before the program dies.
 * Leaks show at exit; FUZZ_LEAK_CHECK=1 looks after every input instead,
 * to catch the one that leaks.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"
#include "util.h"

#define FUZZ_SIZE_MAX		(64 * 1024)
#define FUZZ_SEEDS_MAX		256
#define FUZZ_ITERATIONS		5000
#define FUZZ_SECONDS		2
#define FUZZ_INPUT_SECONDS	10

struct fuzz_input {
	uint8_t		*data;
	size_t		 size;
};

struct fuzz_corpus {
	struct fuzz_input	 seeds[FUZZ_SEEDS_MAX];
	size_t			 n;
};

/* The input being run and where it goes if it kills us. */
static const uint8_t	*fuzz_current;
static size_t		 fuzz_current_size;
static char		 fuzz_crash_path[256];
static uint64_t		 fuzz_rng;
static int		 fuzz_leak_check;	/* after every input: slow */

/* Weak: a harness may do without, only sanitizer runtimes have these. */
int	LLVMFuzzerInitialize(int *, char ***) __attribute__((weak));
void	__sanitizer_set_death_callback(void (*)(void)) __attribute__((weak));
int	__lsan_do_recoverable_leak_check(void) __attribute__((weak));
const char *__ubsan_default_options(void);

/* An undefined behaviour is a failure, as a crash is. */
const char *
__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

/* From a signal handler or the sanitizer's death: write(2) only. */
static void
fuzz_save_current(void)
{
	int	 fd;

	if (fuzz_current == NULL)
		return;
	fd = open(fuzz_crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd == -1)
		return;
	if (write(fd, fuzz_current, fuzz_current_size) == -1)
		fuzz_current = NULL;
	close(fd);
	fuzz_current = NULL;
}

static void
fuzz_die(int sig)
{
	fuzz_save_current();
	signal(sig, SIG_DFL);
	raise(sig == SIGALRM ? SIGABRT : sig);
}

static void
fuzz_trap(const char *name)
{
	static const int	 sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL,
				    SIGABRT, SIGALRM };
	size_t			 i;

	snprintf(fuzz_crash_path, sizeof(fuzz_crash_path), "fuzz-%s.crash",
	    name);
	for (i = 0; i < nitems(sigs); i++)
		signal(sigs[i], fuzz_die);
	if (__sanitizer_set_death_callback != NULL)
		__sanitizer_set_death_callback(fuzz_save_current);
}

static void
fuzz_run(const uint8_t *data, size_t size)
{
	/* A private copy, so reads past the end are the sanitizer's. */
	uint8_t	*copy = xmalloc(size > 0 ? size : 1);

	memcpy(copy, data, size);
	fuzz_current = copy;
	fuzz_current_size = size;
	alarm(FUZZ_INPUT_SECONDS);
	LLVMFuzzerTestOneInput(copy, size);
	alarm(0);
	if (fuzz_leak_check && __lsan_do_recoverable_leak_check != NULL &&
	    __lsan_do_recoverable_leak_check() != 0)
		fuzz_die(SIGABRT);
	fuzz_current = NULL;
	free(copy);
}

static int
fuzz_read_file(const char *path, struct fuzz_input *in)
{
	FILE	*f;

	if ((f = fopen(path, "rb")) == NULL)
		return -1;
	in->data = xmalloc(FUZZ_SIZE_MAX);
	in->size = fread(in->data, 1, FUZZ_SIZE_MAX, f);
	fclose(f);
	return 0;
}

static int
fuzz_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of dir, in name order (a stable sequence). */
static void
fuzz_load_dir(const char *dir, struct fuzz_corpus *c)
{
	char		*names[FUZZ_SEEDS_MAX], *path;
	size_t		 n = 0, i;
	struct dirent	*de;
	DIR		*d;

	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "fuzz: %s: no seed corpus\n", dir);
		exit(1);
	}
	while ((de = readdir(d)) != NULL && n < nitems(names)) {
		if (de->d_name[0] != '.')
			names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), fuzz_name_cmp);
	for (i = 0; i < n; i++) {
		xasprintf(&path, "%s/%s", dir, names[i]);
		if (fuzz_read_file(path, &c->seeds[c->n]) == 0)
			c->n++;
		free(path);
		free(names[i]);
	}
}

/* xorshift64*: the same sequence on every machine. */
static uint64_t
fuzz_rand(void)
{
	fuzz_rng ^= fuzz_rng >> 12;
	fuzz_rng ^= fuzz_rng << 25;
	fuzz_rng ^= fuzz_rng >> 27;
	return fuzz_rng * 0x2545f4914f6cdd1dULL;
}

static size_t
fuzz_below(size_t n)
{
	return n == 0 ? 0 : fuzz_rand() % n;
}

/* Values that sit on parsers' edges: lengths, signs, delimiters. */
static const uint8_t fuzz_interesting[] = {
	0x00, 0x01, 0x7e, 0x7f, 0x80, 0x81, 0xc0, 0xc1, 0xcc, 0xcd, 0xce,
	0xcf, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xfe, 0xff, '\0',
	'\r', '\n', '\t', ' ', '"', '\\', '{', '}', '[', ']', ':', ',', '%',
	'+', '=', '&', '?', '/', '.', '-', ';', '0', '9', 'e', 'u',
};

static void
fuzz_insert(uint8_t *buf, size_t *size, size_t at, const uint8_t *p,
    size_t n)
{
	if (*size + n > FUZZ_SIZE_MAX)
		n = FUZZ_SIZE_MAX - *size;
	memmove(buf + at + n, buf + at, *size - at);
	memmove(buf + at, p, n);
	*size += n;
}

/* One mutation of buf, in place; other is a seed to splice from. */
static void
fuzz_mutate_once(uint8_t *buf, size_t *size, const struct fuzz_input *other)
{
	size_t	 at = fuzz_below(*size + 1), n;
	uint8_t	 b;

	switch (fuzz_below(7)) {
	case 0:
		if (at < *size)
			buf[at] ^= 1 << fuzz_below(8);
		break;
	case 1:
		if (at < *size)
			buf[at] = fuzz_interesting[fuzz_below(
			    sizeof(fuzz_interesting))];
		break;
	case 2:
		b = fuzz_interesting[fuzz_below(sizeof(fuzz_interesting))];
		fuzz_insert(buf, size, at, &b, 1);
		break;
	case 3:
		n = fuzz_below(*size - at + 1);
		memmove(buf + at, buf + at + n, *size - at - n);
		*size -= n;
		break;
	case 4:		/* repeat a stretch: lengths, nesting */
		n = fuzz_below(*size - at + 1);
		/* Opening the gap leaves the stretch in place: a copy. */
		fuzz_insert(buf, size, at, buf + at, n);
		break;
	case 5:		/* splice: our head, the other's tail */
		n = fuzz_below(other->size + 1);
		*size = at;
		fuzz_insert(buf, size, at, other->data + n, other->size - n);
		break;
	default:
		if (at < *size)
			buf[at] = fuzz_rand();
		break;
	}
}

static void
fuzz_mutations(const struct fuzz_corpus *c, unsigned long iterations,
    unsigned long seconds)
{
	uint8_t		*buf = xmalloc(FUZZ_SIZE_MAX);
	time_t		 end = time(NULL) + seconds;
	unsigned long	 i;
	size_t		 size, k;
	const struct fuzz_input	*seed;

	for (i = 0; i < iterations && time(NULL) < end; i++) {
		seed = &c->seeds[fuzz_below(c->n)];
		memcpy(buf, seed->data, seed->size);
		size = seed->size;
		for (k = 1 + fuzz_below(4); k > 0; k--)
			fuzz_mutate_once(buf, &size,
			    &c->seeds[fuzz_below(c->n)]);
		fuzz_run(buf, size);
	}
	printf("%lu mutations\n", i);
	free(buf);
}

static unsigned long
fuzz_env(const char *name, unsigned long def)
{
	const char	*s = getenv(name);

	return s != NULL && *s != '\0' ? strtoul(s, NULL, 0) : def;
}

/* fuzz_http_server -> http_server. */
static const char *
fuzz_name(const char *argv0)
{
	const char	*name = strrchr(argv0, '/');

	name = name != NULL ? name + 1 : argv0;
	if (strncmp(name, "lt-", 3) == 0)
		name += 3;
	return strncmp(name, "fuzz_", 5) == 0 ? name + 5 : name;
}

int
main(int argc, char **argv)
{
	static struct fuzz_corpus	 c;
	const char			*srcdir = getenv("srcdir");
	const char			*name = fuzz_name(argv[0]);
	char				*dir;
	size_t				 i;
	int				 a;

	fuzz_leak_check = fuzz_env("FUZZ_LEAK_CHECK", 0) != 0;
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	fuzz_trap(name);
	if (argc > 1) {
		for (a = 1; a < argc; a++) {
			if (fuzz_read_file(argv[a], &c.seeds[0]) == -1) {
				perror(argv[a]);
				return 1;
			}
			fuzz_run(c.seeds[0].data, c.seeds[0].size);
			free(c.seeds[0].data);
		}
		return 0;
	}
	xasprintf(&dir, "%s/tests/fuzz/corpus/%s",
	    srcdir != NULL ? srcdir : ".", name);
	fuzz_load_dir(dir, &c);
	for (i = 0; i < c.n; i++)
		fuzz_run(c.seeds[i].data, c.seeds[i].size);
	printf("%s: %zu seeds, ", name, c.n);
	fuzz_rng = fuzz_env("FUZZ_SEED", 0x6d6963726f64) | 1;
	if (c.n > 0)
		fuzz_mutations(&c, fuzz_env("FUZZ_ITERATIONS", FUZZ_ITERATIONS),
		    fuzz_env("FUZZ_SECONDS", FUZZ_SECONDS));
	for (i = 0; i < c.n; i++)
		free(c.seeds[i].data);
	free(dir);
	return 0;
}
