#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <unistd.h>

#include "tests/unit/testdir.h"

void
testdir_remove(const char *dir)
{
	struct dirent	*de;
	DIR		*d;
	char		 p[512];

	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(dir);
}
