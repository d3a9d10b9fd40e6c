#include "config.h"

#include <stdio.h>
#include <string.h>

#include "microd/master.h"
#include "ctlclient.h"

/*
 * -s reload: ask the master at the configuration's socket to reload, as
 * `microctl reload` does, and say whether it took the new configuration
 * (main() first loads the backends' plugins, as -t does). systemd's
 * ExecReload= then fails on a refused reload, one that changes a setting
 * needing a restart included, which -t cannot know. A socket changed in
 * microd.conf is such a setting: nothing answers at the new path, and
 * the message says so. Returns the exit status.
 */
int
master_tell(const struct config *conf, const char *what)
{
	struct ctlclient	*c;
	struct ctl_frame	 f;
	struct ctl_msg		 msg;
	const char		*cause;
	int			 rc;

	if ((c = ctlclient_connect(conf->socket, &cause)) == NULL) {
		fprintf(stderr, "microd: %s (if microd.conf's socket changed, "
		    "restart microd)\n", cause);
		return 1;
	}
	ctlclient_begin(c, &f, what, 0);
	memset(&msg, 0, sizeof(msg));
	if ((rc = ctlclient_call(c, &f, &msg, &cause)) == -1)
		fprintf(stderr, "microd: %s: %s\n", what, cause);
	ctl_msg_free(&msg);
	ctlclient_free(c);
	return rc == -1;
}
