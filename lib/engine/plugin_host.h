/* SPDX-License-Identifier: MIT */
/*
 * The plugin host: finds the `struct chime_plugin` a job names, either in
 * the built-in table it was given (lib/plugins/builtin.c) or in a shared
 * object named by `plugin_path:`, loaded with dlopen(RTLD_NOW|RTLD_LOCAL)
 * and checked (abi_version, struct_size, name, run) before use. It also
 * provides the config loader's hooks, so resolving plugins and calling
 * their configure() happens while the config is checked: `chimed --check`
 * and `chimectl check` see plugin mistakes with file:line:col.
 *
 * Everything here runs on one thread (the loop, or chimectl's main).
 * Never logs: problems become diagnostics or error text.
 */
#ifndef CHIME_PLUGIN_HOST_H
#define CHIME_PLUGIN_HOST_H

#include <stddef.h>

#include "chime/plugin.h"

#include "config.h"

struct chime_plugin_host;

/*
 * Returns 0 and a new host in *ret_host, or -ENOMEM. `builtin` is the
 * table of built-in plugins (chime_plugins_builtin() of lib/plugins, which
 * the engine does not link: the program that owns the host passes it in),
 * borrowed for the host's life.
 */
int chime_plugin_host_new(const struct chime_plugin *const *builtin, size_t n_builtin,
                          struct chime_plugin_host **ret_host);
/*
 * Free the host and dlclose() every shared object it loaded. Every config
 * loaded with this host's hooks must have been released first: their jobs
 * point into those objects. NULL-safe, returns NULL.
 */
struct chime_plugin_host *chime_plugin_host_free(struct chime_plugin_host *host);

/* The built-in plugin named `name`, or NULL. Borrowed from the table. */
const struct chime_plugin *chime_plugin_host_builtin(const struct chime_plugin_host *host,
                                                     const char *name);

/*
 * Load (or find already loaded) the plugin shared object at `path`.
 * Returns 0 and the checked descriptor in *ret_plugin (borrowed, valid
 * until chime_plugin_host_free()), or a negative errno with a one-line
 * reason in `errbuf` such as "plugin '/x.so': ABI version 7, this chimed
 * supports 1". A rejected object is dlclose()d at once. A descriptor
 * shorter than this host's is copied with the missing fields zeroed, so
 * the host reads only what the plugin's version has.
 */
int chime_plugin_host_load(struct chime_plugin_host *host, const char *path, char *errbuf,
                           size_t errsize, const struct chime_plugin **ret_plugin);

/*
 * Fill *ret_hooks with the config loader hooks backed by `host`:
 *   check_job    resolves job->plugin_path (relative paths are taken from
 *                the directory of the file defining the job) or
 *                job->plugin_name among the built-ins, calls configure()
 *                with job->options, and sets job->plugin and
 *                job->plugin_state; else adds diagnostics at the job.
 *                When only plugin_path is given, job->plugin_name is set
 *                to the descriptor's name.
 *   release_job  calls the plugin's release() on job->plugin_state.
 * The host must outlive every config loaded with these hooks.
 */
void chime_plugin_host_hooks(struct chime_plugin_host *host, struct chime_config_hooks *ret_hooks);

/*
 * Whether a lost run of `job` (its node stopped heartbeating mid-run) may
 * run again: the plugin is idempotent (or says so for this job with
 * rerun_safe()), or it records in its transaction (a lost run changed
 * nothing). `on_lost: auto` re-runs exactly these.
 */
bool chime_plugin_rerun_safe(const struct chime_job_config *job);

#endif
