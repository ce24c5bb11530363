/* SPDX-License-Identifier: MIT */
/*
 * SQL text for plugins: a growing string, the one identifier quoter, and
 * the one named-placeholder template every plugin builds its statements
 * with. A template is SQL in which each {name} stands for an identifier
 * that the job's options map (a table "schema.table", a column): the
 * template quotes it once, with PQescapeIdentifier, so a mapped name can
 * never change the statement's shape. $1, $2... are left alone: values
 * travel as libpq parameters, never in the text.
 *
 *   static const struct chime_kit_ident ids[] = {
 *           {"table", "app.codes"}, {"key", "id"}, {"status", "Status"},
 *   };
 *   chime_kit_sql_template(&b, conn, "SELECT r.{key} FROM {table} AS r"
 *                          " WHERE r.{status} = $1", ids, 3, err, sizeof(err));
 *   -> SELECT r."id" FROM "app"."codes" AS r WHERE r."Status" = $1
 *
 * Pure (no run, no logging); thread-safe as long as each buffer is used by
 * one thread. Documented for third-party plugins in chime-plugin(3).
 */
#ifndef CHIME_KIT_SQLTEXT_H
#define CHIME_KIT_SQLTEXT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "chime/plugin.h"

/*
 * A growing NUL-terminated string. Zero-initialise it; `failed` sticks
 * after a failed allocation or template, and every later append is then a
 * no-op, so a builder checks once at the end.
 */
struct chime_kit_sqlbuf {
	char *data;
	size_t len, size;
	bool failed;
};

void chime_kit_sqlbuf_printf(struct chime_kit_sqlbuf *b, const char *fmt, ...) CHIME_PRINTF(2, 3);
void chime_kit_sqlbuf_vprintf(struct chime_kit_sqlbuf *b, const char *fmt, va_list ap)
        CHIME_PRINTF(2, 0);
/* Frees the buffer's data and zeroes it; safe on a zeroed buffer. */
void chime_kit_sqlbuf_done(struct chime_kit_sqlbuf *b);

/*
 * Quote `name` as an SQL identifier with PQescapeIdentifier; a qualified
 * name "schema.table" (split at the first dot) becomes "schema"."table".
 * Returns a malloc'd string the caller frees, or NULL (out of memory, or
 * a name invalid in the connection's encoding).
 */
char *chime_kit_quote_ident(PGconn *conn, const char *name);

/* One placeholder of a template: {name} stands for identifier `ident`
 * (NULL: not mapped, an error if the template uses it). Borrowed. */
struct chime_kit_ident {
	const char *name;
	const char *ident;
};

/*
 * Append `tmpl` to `out` with each {name} replaced by the identifier of
 * the entry of `ids` with that name, quoted once (chime_kit_quote_ident()).
 * A placeholder is '{', a name of letters, digits, '_' and '.', and '}';
 * any other brace is copied as it is. Returns 0, or a negative errno with
 * `out->failed` set and the reason in errbuf: -ENOENT "unknown placeholder
 * '{x}'", -EINVAL "placeholder '{x}' is not mapped", -EILSEQ "cannot
 * quote identifier 'x'", -ENOMEM.
 */
int chime_kit_sql_template(struct chime_kit_sqlbuf *out, PGconn *conn, const char *tmpl,
                           const struct chime_kit_ident *ids, size_t n_ids, char *errbuf,
                           size_t errsize);

#endif
