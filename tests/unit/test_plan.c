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
	unsigned long long src_size, p_size;	/* 0: not known */
};

#define B "1700000000.M1P2.old"

static const struct plan_case cases[] = {
	{ "source only, listed", "cur/" B ":2,S", 1, NULL, NULL, 0, 0,
	  SYNC_COPY, 0, 0 },
	{ "source only, listed, --delete", "new/" B, 1, NULL, NULL, 0, 1,
	  SYNC_COPY, 0, 0 },
	{ "source only, a state row without its file here (a copy lost "
	  "here, the folder listed again)", "cur/" B ":2,S", 1, NULL,
	  "cur/" B ":2,S", 0, 0, SYNC_COPY, 0, 0 },
	{ "source known by the state's name only, gone here",
	  "cur/" B ":2,S", 0, NULL, "cur/" B ":2,S", 0, 1, SYNC_LOST_HERE, 0, 0 },
	{ "same name on both sides, in the state", "cur/" B ":2,S", 1,
	  "cur/" B ":2,S", "cur/" B ":2,S", 0, 1, SYNC_IN_PLACE, 0, 0 },
	{ "same name on both sides, no state row: another message may have "
	  "its name here; proven before it is adopted", "cur/" B ":2,S", 1,
	  "cur/" B ":2,S", NULL, 0, 1, SYNC_PROVE, 0, 0 },
	{ "same name, source from the state's names", "new/" B, 0,
	  "new/" B, "new/" B, 0, 0, SYNC_IN_PLACE, 0, 0 },
	{ "flags changed on the source", "cur/" B ":2,RS", 1,
	  "cur/" B ":2,S", "cur/" B ":2,S", 0, 0, SYNC_RENAME, 0, 0 },
	{ "flags changed, no state row: proven first", "cur/" B ":2,FS", 1,
	  "cur/" B ":2,S", NULL, 0, 0, SYNC_PROVE, 0, 0 },
	{ "the source's size is not the one copied", "cur/" B ":2,S", 1,
	  "cur/" B ":2,S", "cur/" B ":2,S", 0, 0, SYNC_RECOPY, 120, 100 },
	{ "... and its flags changed too", "cur/" B ":2,FS", 1,
	  "cur/" B ":2,S", "cur/" B ":2,S", 0, 1, SYNC_RECOPY, 120, 100 },
	{ "the same size as copied", "cur/" B ":2,S", 1,
	  "cur/" B ":2,S", "cur/" B ":2,S", 0, 0, SYNC_IN_PLACE, 100, 100 },
	{ "a state row without a size: no recopy", "cur/" B ":2,S", 1,
	  "cur/" B ":2,S", "cur/" B ":2,S", 0, 0, SYNC_IN_PLACE, 100, 0 },
	{ "moved new/ -> cur/ on the source", "cur/" B ":2,S", 1,
	  "new/" B, "new/" B, 0, 1, SYNC_RENAME, 0, 0 },
	{ "moved, same file name", "cur/" B, 1, "new/" B, "new/" B, 0, 0,
	  SYNC_RENAME, 0, 0 },
	{ "in new/ on the source, cur/ here: the source wins", "new/" B, 1,
	  "cur/" B, "cur/" B, 0, 0, SYNC_RENAME, 0, 0 },
	{ "in new/ on the source, cur/ here, no state row", "new/" B, 1,
	  "cur/" B, NULL, 0, 0, SYNC_PROVE, 0, 0 },
	{ "destination only, the state says from the source, no --delete",
	  NULL, 0, "cur/" B ":2,S", "cur/" B ":2,S", 0, 0, SYNC_KEEP_GONE, 0, 0 },
	{ "destination only, the state says from the source, --delete",
	  NULL, 0, "cur/" B ":2,S", "cur/" B ":2,S", 0, 1, SYNC_DELETE, 0, 0 },
	{ "destination only, renamed here since, --delete", NULL, 0,
	  "cur/" B ":2,ST", "cur/" B ":2,S", 0, 1, SYNC_DELETE, 0, 0 },
	{ "destination only, row already marked gone, no --delete", NULL, 0,
	  "cur/" B ":2,S", "cur/" B ":2,S", 1, 0, SYNC_KEEP_GONE, 0, 0 },
	{ "destination only, row already marked gone, --delete", NULL, 0,
	  "cur/" B ":2,S", "cur/" B ":2,S", 1, 1, SYNC_DELETE, 0, 0 },
	{ "destination only, no state row (delivered here)", NULL, 0,
	  "new/" B, NULL, 0, 0, SYNC_KEEP_OWN, 0, 0 },
	{ "destination only, no state row, --delete: never deleted", NULL, 0,
	  "cur/" B ":2,S", NULL, 0, 1, SYNC_KEEP_OWN, 0, 0 },
	{ "the state says placed, gone from both sides", NULL, 0, NULL,
	  "cur/" B ":2,S", 0, 0, SYNC_FORGET, 0, 0 },
	{ "gone from both sides, --delete", NULL, 0, NULL, "new/" B, 1, 1,
	  SYNC_FORGET, 0, 0 },
	{ "nothing anywhere", NULL, 0, NULL, NULL, 0, 1, SYNC_NONE, 0, 0 },
};

static const char *action_name(enum sync_action a)
{
	static const char *const names[] = {
		"none", "in place", "rename", "copy", "lost here", "delete",
		"keep gone", "keep own", "forget", "prove", "copy again",
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
		e->s_st.size = c->src_size;
	}
	if (c->dest) {
		e->d_sub = c->dest[0];
		e->d_name = c->dest + 4;
	}
	if (c->state) {
		e->has_p = 1;
		e->p_name = c->state;
		e->p_gone = (char)c->gone;
		e->p_size = c->p_size;
	}
}

static void test_table(void)
{
	size_t i;
	int seen[SYNC_RECOPY + 1] = { 0 };

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
		if ((unsigned)c->want <= SYNC_RECOPY)
			seen[c->want] = 1;
	}
	/* Every action has a case. */
	for (i = 0; i <= SYNC_RECOPY; i++)
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
		/* A file here the state never saw placed is kept, or
		 * proven before anything is done to it. */
		if (!e.has_p && e.d_sub)
			CHECK(with == SYNC_KEEP_OWN || with == SYNC_PROVE);
	}
}

int main(void)
{
	test_table();
	test_delete_scope();
	return unit_done("test_plan");
}
