/* Unit tests for the control store's statement cache (store.c): the same
 * SQL text prepared again after ctl_store_finish is the same statement,
 * reset and with its old bindings gone; a statement still in use is never
 * handed out twice (a nested use gets its own); SQL built at run time in a
 * reused buffer gets the statement of its text, not of the buffer; more
 * distinct statements than the cache holds all work; and answers stay
 * right across a schema change and a write that the cached statement must
 * see (no stale snapshot). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/util.h"
#include "control/store.h"
#include "control/store_priv.h"

#include "store_fixture.h"

static void make_table(fixture *f)
{
	assert_int_equal(ctl_store_exec(f->st, "CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER)"), CL_OK);
	assert_int_equal(ctl_store_exec(f->st, "INSERT INTO t VALUES('a',1),('b',2),('c',3)"), CL_OK);
}

/* The v of key k through a cached SELECT, or -1 if there is no row. */
static int64_t value_of(fixture *f, const char *k, sqlite3_stmt **used)
{
	sqlite3_stmt *q = NULL;
	assert_int_equal(CTL_PREP(f->st, &q, "SELECT v FROM t WHERE k=?", CTL_TEXT(k)), CL_OK);
	int64_t v = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
	if (used)
		*used = q;
	ctl_store_finish(f->st, q);
	return v;
}

static void same_sql_reuses_the_statement(void **state)
{
	fixture *f = *state;
	make_table(f);
	sqlite3_stmt *q1 = NULL, *q2 = NULL;
	assert_int_equal(value_of(f, "a", &q1), 1);
	assert_int_equal(value_of(f, "b", &q2), 2);
	assert_ptr_equal(q1, q2);
	/* reset and unbound when finished: nothing bound, no step half done */
	assert_int_equal(sqlite3_stmt_busy(q1), 0);
	char *x = sqlite3_expanded_sql(q1);
	assert_non_null(x);
	assert_string_equal(x, "SELECT v FROM t WHERE k=NULL");
	sqlite3_free(x);
}

static void a_statement_in_use_is_not_handed_out_again(void **state)
{
	fixture *f = *state;
	make_table(f);
	sqlite3_stmt *outer = NULL, *inner = NULL;
	assert_int_equal(CTL_PREP(f->st, &outer, "SELECT v FROM t WHERE k=?", CTL_TEXT("a")), CL_OK);
	assert_int_equal(sqlite3_step(outer), SQLITE_ROW);
	/* the same SQL while the first is mid-step: another statement */
	assert_int_equal(CTL_PREP(f->st, &inner, "SELECT v FROM t WHERE k=?", CTL_TEXT("c")), CL_OK);
	assert_ptr_not_equal(inner, outer);
	assert_int_equal(sqlite3_step(inner), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(inner, 0), 3);
	assert_int_equal(sqlite3_column_int64(outer, 0), 1); /* untouched by the nested use */
	ctl_store_finish(f->st, inner);
	ctl_store_finish(f->st, outer);
	assert_int_equal(value_of(f, "b", NULL), 2);
}

static void sql_is_matched_by_text(void **state)
{
	fixture *f = *state;
	make_table(f);
	char sql[64];
	const char *cols[] = {"k", "v"};
	for (int round = 0; round < 2; round++)
		for (size_t i = 0; i < 2; i++) {
			snprintf(sql, sizeof(sql), "SELECT %s FROM t WHERE k='b'", cols[i]); /* one buffer, two texts */
			sqlite3_stmt *q = NULL;
			assert_int_equal(ctl_store_prepare(f->st, &q, sql, NULL, 0), CL_OK);
			assert_int_equal(sqlite3_step(q), SQLITE_ROW);
			if (i == 0)
				assert_string_equal((const char *)sqlite3_column_text(q, 0), "b");
			else
				assert_int_equal(sqlite3_column_int64(q, 0), 2);
			ctl_store_finish(f->st, q);
		}
}

static void more_statements_than_the_cache_holds(void **state)
{
	fixture *f = *state;
	make_table(f);
	char sql[80];
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < CTL_STMT_CACHE * 2; i++) {
			snprintf(sql, sizeof(sql), "SELECT v + %d FROM t WHERE k='a'", i);
			sqlite3_stmt *q = NULL;
			assert_int_equal(ctl_store_prepare(f->st, &q, sql, NULL, 0), CL_OK);
			assert_int_equal(sqlite3_step(q), SQLITE_ROW);
			assert_int_equal(sqlite3_column_int64(q, 0), 1 + i);
			ctl_store_finish(f->st, q);
		}
	/* every slot in use: the next one is prepared outside the cache, and works */
	sqlite3_stmt *held[CTL_STMT_CACHE + 1];
	for (int i = 0; i <= CTL_STMT_CACHE; i++) {
		assert_int_equal(CTL_PREP(f->st, &held[i], "SELECT v FROM t WHERE k=?", CTL_TEXT("c")), CL_OK);
		assert_int_equal(sqlite3_step(held[i]), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int64(held[i], 0), 3);
	}
	for (int i = CTL_STMT_CACHE; i >= 0; i--)
		ctl_store_finish(f->st, held[i]);
}

static void cached_statements_see_writes_and_schema_changes(void **state)
{
	fixture *f = *state;
	make_table(f);
	assert_int_equal(value_of(f, "a", NULL), 1);
	assert_int_equal(ctl_store_exec(f->st, "UPDATE t SET v=10 WHERE k='a'"), CL_OK);
	assert_int_equal(value_of(f, "a", NULL), 10);
	assert_int_equal(ctl_store_exec(f->st, "ALTER TABLE t ADD COLUMN w INTEGER DEFAULT 7"), CL_OK);
	assert_int_equal(ctl_store_exec(f->st, "DELETE FROM t WHERE k='a'"), CL_OK);
	assert_int_equal(value_of(f, "a", NULL), -1);
	/* a second connection's write is seen too: no snapshot is held open */
	sqlite3 *other = NULL;
	assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "UPDATE t SET v=20 WHERE k='b'", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	assert_int_equal(value_of(f, "b", NULL), 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(same_sql_reuses_the_statement, setup, teardown),
		cmocka_unit_test_setup_teardown(a_statement_in_use_is_not_handed_out_again, setup, teardown),
		cmocka_unit_test_setup_teardown(sql_is_matched_by_text, setup, teardown),
		cmocka_unit_test_setup_teardown(more_statements_than_the_cache_holds, setup, teardown),
		cmocka_unit_test_setup_teardown(cached_statements_see_writes_and_schema_changes, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
