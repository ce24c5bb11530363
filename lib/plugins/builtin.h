/* SPDX-License-Identifier: MIT */
/*
 * The built-in plugins: one descriptor per plugin in lib/plugins/, each
 * declared here and listed once in the table of lib/plugins/builtin.c.
 * Adding a plugin is one line in each place. The programs (chimed,
 * chimectl) hand the table to the plugin host; the engine never links
 * the plugins.
 */
#ifndef CHIME_PLUGINS_BUILTIN_H
#define CHIME_PLUGINS_BUILTIN_H

#include <stddef.h>

#include "chime/plugin.h"

extern const struct chime_plugin chime_plugin_noop;
extern const struct chime_plugin chime_plugin_sql;
extern const struct chime_plugin chime_plugin_exec;
extern const struct chime_plugin chime_plugin_payouts;
extern const struct chime_plugin chime_plugin_expiration;
extern const struct chime_plugin chime_plugin_activation;
extern const struct chime_plugin chime_plugin_billing;
extern const struct chime_plugin chime_plugin_email_sync;

/* Every built-in plugin, in table order (static storage). */
extern const struct chime_plugin *const chime_plugins_builtin[];
extern const size_t chime_plugins_builtin_count;

/* The built-in plugin named `name`, or NULL. */
const struct chime_plugin *chime_plugins_find(const char *name);

#endif
