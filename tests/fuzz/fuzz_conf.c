/*
 * microd.conf (microd/conf.c) as `microd -t` reads it: the input is the
 * file, loaded with its defaults, the environment and the cross-key
 * checks.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz.h"
#include "log.h"
#include "microd/conf.h"

static char	 fuzz_conf_path[] = "/tmp/fuzz-conf.XXXXXX";

static void
fuzz_conf_cleanup(void)
{
	unlink(fuzz_conf_path);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int	 fd;

	log_init("fuzz", LOG_LEVEL_ERR);
	if ((fd = mkstemp(fuzz_conf_path)) == -1)
		fatal("mkstemp");
	close(fd);
	atexit(fuzz_conf_cleanup);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config	 c;
	char			 errs[4096];
	FILE			*f;

	if ((f = fopen(fuzz_conf_path, "w")) == NULL)
		fatal("%s", fuzz_conf_path);
	if (fwrite(data, 1, size, f) != size || fclose(f) == EOF)
		fatal("%s", fuzz_conf_path);
	config_load(&c, fuzz_conf_path, 1, errs, sizeof(errs));
	return 0;
}
