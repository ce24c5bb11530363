/* SPDX-License-Identifier: MIT */
/*
 * The built-in plugins: one descriptor per file in lib/plugins/, each
 * declared here and listed once in the `builtin` table of
 * lib/plugin_host.c. Adding a plugin is one line in each place.
 */
#ifndef CHIME_PLUGINS_BUILTIN_H
#define CHIME_PLUGINS_BUILTIN_H

#include "chime/plugin.h"

extern const struct chime_plugin chime_plugin_noop;
extern const struct chime_plugin chime_plugin_sql;
extern const struct chime_plugin chime_plugin_exec;
extern const struct chime_plugin chime_plugin_payouts;
extern const struct chime_plugin chime_plugin_expiration;
extern const struct chime_plugin chime_plugin_activation;
extern const struct chime_plugin chime_plugin_billing;
extern const struct chime_plugin chime_plugin_email_sync;

#endif
