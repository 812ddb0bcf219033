/* test_plan.c: the planning decision of a sync (sync_plan_decide), one
 * base name of a folder as the source, the destination and the state
 * have it, as a table of cases: the rules that keep every message. */
#include "unit.h"

#include "sync_int.h"

struct plan_case {
	const char *what;
	const char *src;	/* "cur/NAME" or "new/NAME"; NULL: not there */
	int listed;		/* from this run's listing, else from the
				   state's names (cur/ or new/ unchanged) */
	const char *dest;	/* the same on the destination */
	const char *state;	/* the state's row: the file came from the
				   source under this name; NULL: no row */
	int gone;		/* the row says: gone from the source, kept */
	int delete;		/* --delete */
	enum sync_action want;
};

#define B "1700000000.M1P2.old"

static const struct plan_case cases[] = {
	{ "source only, listed", "cur/" B ":2,S", 1, NULL, NULL, 0, 0,
	  SYNC_COPY },
	{ "source only, listed, --delete", "new/" B, 1, NULL, NULL, 0, 1,
	  SYNC_COPY },
	{ "source only, a state row without its file here (a copy lost "
	  "here, the folder listed again)", "cur/" B ":2,S", 1, NULL,
	  "cur/" B ":2,S", 0, 0, SYNC_COPY },
	{ "source known by the state's name only, gone here",
	  "cur/" B ":2,S", 0, NULL, "cur/" B ":2,S", 0, 1, SYNC_LOST_HERE },
	{ "same name on both sides, in the state", "cur/" B ":2,S", 1,
	  "cur/" B ":2,S", "cur/" B ":2,S", 0, 1, SYNC_IN_PLACE },
	{ "same name on both sides, no state row (a run killed before its "
	  "commit)", "cur/" B ":2,S", 1, "cur/" B ":2,S", NULL, 0, 1,
	  SYNC_IN_PLACE },
	{ "same name, source from the state's names", "new/" B, 0,
	  "new/" B, "new/" B, 0, 0, SYNC_IN_PLACE },
	{ "flags changed on the source", "cur/" B ":2,RS", 1,
	  "cur/" B ":2,S", "cur/" B ":2,S", 0, 0, SYNC_RENAME },
	{ "flags changed, no state row", "cur/" B ":2,FS", 1,
	  "cur/" B ":2,S", NULL, 0, 0, SYNC_RENAME },
	{ "moved new/ -> cur/ on the source", "cur/" B ":2,S", 1,
	  "new/" B, "new/" B, 0, 1, SYNC_RENAME },
	{ "moved, same file name", "cur/" B, 1, "new/" B, "new/" B, 0, 0,
	  SYNC_RENAME },
	{ "in new/ on the source, cur/ here: the source wins", "new/" B, 1,
	  "cur/" B, NULL, 0, 0, SYNC_RENAME },
	{ "destination only, the state says from the source, no --delete",
	  NULL, 0, "cur/" B ":2,S", "cur/" B ":2,S", 0, 0, SYNC_KEEP_GONE },
	{ "destination only, the state says from the source, --delete",
	  NULL, 0, "cur/" B ":2,S", "cur/" B ":2,S", 0, 1, SYNC_DELETE },
	{ "destination only, renamed here since, --delete", NULL, 0,
	  "cur/" B ":2,ST", "cur/" B ":2,S", 0, 1, SYNC_DELETE },
	{ "destination only, row already marked gone, no --delete", NULL, 0,
	  "cur/" B ":2,S", "cur/" B ":2,S", 1, 0, SYNC_KEEP_GONE },
	{ "destination only, row already marked gone, --delete", NULL, 0,
	  "cur/" B ":2,S", "cur/" B ":2,S", 1, 1, SYNC_DELETE },
	{ "destination only, no state row (delivered here)", NULL, 0,
	  "new/" B, NULL, 0, 0, SYNC_KEEP_OWN },
	{ "destination only, no state row, --delete: never deleted", NULL, 0,
	  "cur/" B ":2,S", NULL, 0, 1, SYNC_KEEP_OWN },
	{ "the state says placed, gone from both sides", NULL, 0, NULL,
	  "cur/" B ":2,S", 0, 0, SYNC_FORGET },
	{ "gone from both sides, --delete", NULL, 0, NULL, "new/" B, 1, 1,
	  SYNC_FORGET },
	{ "nothing anywhere", NULL, 0, NULL, NULL, 0, 1, SYNC_NONE },
};

static const char *action_name(enum sync_action a)
{
	static const char *const names[] = {
		"none", "in place", "rename", "copy", "lost here", "delete",
		"keep gone", "keep own", "forget",
	};

	return (unsigned)a < sizeof names / sizeof *names ? names[a] : "?";
}

static void row_of(const struct plan_case *c, struct msgent *e)
{
	memset(e, 0, sizeof *e);
	e->base = B;
	if (c->src) {
		e->s_sub = c->src[0];
		e->s_name = c->src + 4;
		e->s_listed = (char)c->listed;
		e->s_has_stat = (char)c->listed;
	}
	if (c->dest) {
		e->d_sub = c->dest[0];
		e->d_name = c->dest + 4;
	}
	if (c->state) {
		e->has_p = 1;
		e->p_name = c->state;
		e->p_gone = (char)c->gone;
	}
}

static void test_table(void)
{
	size_t i;
	int seen[SYNC_FORGET + 1] = { 0 };

	for (i = 0; i < sizeof cases / sizeof *cases; i++) {
		const struct plan_case *c = &cases[i];
		struct msgent e;
		enum sync_action got;

		row_of(c, &e);
		got = sync_plan_decide(&e, c->delete);
		if (got == c->want) {
			unit_pass++;
		} else {
			unit_fail++;
			fprintf(stderr, "%s: got %s, want %s\n", c->what,
				action_name(got), action_name(c->want));
		}
		if ((unsigned)c->want <= SYNC_FORGET)
			seen[c->want] = 1;
	}
	/* Every action has a case. */
	for (i = 0; i <= SYNC_FORGET; i++)
		CHECK(seen[i]);
}

/* --delete changes only what the state proves came from the source and
 * the source no longer has; a message of the destination's own is kept
 * whatever the options. */
static void test_delete_scope(void)
{
	size_t i;

	for (i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct msgent e;
		enum sync_action with, without;

		row_of(&cases[i], &e);
		with = sync_plan_decide(&e, 1);
		without = sync_plan_decide(&e, 0);
		CHECK(without != SYNC_DELETE);
		CHECK(with == without ||
		      (with == SYNC_DELETE && without == SYNC_KEEP_GONE));
		if (with == SYNC_DELETE)
			CHECK(e.has_p && e.d_sub && !e.s_sub);
		if (!e.has_p && e.d_sub)
			CHECK(with == SYNC_KEEP_OWN || with == SYNC_IN_PLACE ||
			      with == SYNC_RENAME);
	}
}

int main(void)
{
	test_table();
	test_delete_scope();
	return unit_done("test_plan");
}
