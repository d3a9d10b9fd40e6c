/*
 * go-micro Service JSON (lib/svc.c), as registrations, deregistrations
 * and backend watches bring it. What parses must be canonical once
 * written back: parsing the dump gives the same dump.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "log.h"
#include "svc.h"

static void
fuzz_svc_canonical(const struct svc *s, int flags)
{
	struct svc	*again;
	char		*text, *text2, *cause;

	text = svc_dump(s);
	if ((again = svc_parse(text, strlen(text), flags, &cause)) == NULL)
		fatalx("svc: its own dump refused: %s", cause);
	text2 = svc_dump(again);
	if (strcmp(text, text2) != 0)
		fatalx("svc: dump not canonical:\n%s\n%s", text, text2);
	free(text);
	free(text2);
	svc_free(again);
}

static void
fuzz_svc_register(struct svc_set *set, const struct svc *s)
{
	char	*cause;

	if (svc_set_merge(set, s, &cause) == -1)
		free(cause);
	free(svc_set_dump(set));
	svc_set_remove(set, s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int	 flags[] = { 0, SVC_NEED_NODES, SVC_IDS_ONLY };
	struct svc_set		 set = { NULL, 0 };
	struct svc		*s;
	char			*cause;
	size_t			 i;

	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if ((s = svc_parse((const char *)data, size, flags[i],
		    &cause)) == NULL) {
			free(cause);
			continue;
		}
		fuzz_svc_canonical(s, flags[i]);
		fuzz_svc_register(&set, s);
		svc_free(s);
	}
	svc_set_clear(&set);
	return 0;
}
