/* SPDX-License-Identifier: MIT */
/*
 * The plugin host (plugin_host.h): the built-in plugins it is given,
 * loading and checking third-party shared objects, and the config loader
 * hooks that resolve each job's plugin and call its configure().
 */
#include "plugin_host.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "errbuf.h"

/* The descriptor of ABI 1 must reach at least through release(). */
#define PLUGIN_MIN_SIZE (offsetof(struct chime_plugin, release) + sizeof(void (*)(void *)))

struct plugin_module {
	char *path;
	void *handle;
	struct chime_plugin desc; /* the plugin's descriptor, zero-extended */
};

struct chime_plugin_host {
	const struct chime_plugin *const *builtin; /* borrowed, static storage */
	size_t n_builtin;
	struct plugin_module **modules;
	size_t n_modules, n_allocated;
};

const struct chime_plugin *
chime_plugin_host_builtin(const struct chime_plugin_host *host, const char *name)
{
	for (size_t i = 0; i < host->n_builtin; i++)
		if (strcmp(host->builtin[i]->name, name) == 0)
			return host->builtin[i];
	return NULL;
}

int
chime_plugin_host_new(const struct chime_plugin *const *builtin, size_t n_builtin,
                      struct chime_plugin_host **ret_host)
{
	struct chime_plugin_host *host = calloc(1, sizeof(*host));

	if (host == NULL)
		return -ENOMEM;
	host->builtin = builtin;
	host->n_builtin = n_builtin;
	*ret_host = host;
	return 0;
}

struct chime_plugin_host *
chime_plugin_host_free(struct chime_plugin_host *host)
{
	if (host == NULL)
		return NULL;
	for (size_t i = 0; i < host->n_modules; i++) {
		(void)dlclose(host->modules[i]->handle);
		free(host->modules[i]->path);
		free(host->modules[i]);
	}
	free(host->modules);
	free(host);
	return NULL;
}

static bool
plugin_name_valid(const char *name)
{
	if (name == NULL || name[0] == '\0')
		return false;
	for (const char *p = name; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

/* Check a descriptor the entry point returned; fill *out zero-extended. */
static int
plugin_check(const char *path, const struct chime_plugin *p, struct chime_plugin *out, char *errbuf,
             size_t errsize)
{
	size_t size;

	if (p == NULL)
		return chime_errbuf_set(errbuf, errsize, -EINVAL,
		                        "plugin '%s': chime_plugin_entry() returned NULL", path);
	if (p->abi_version != CHIME_PLUGIN_ABI_VERSION)
		return chime_errbuf_set(errbuf, errsize, -EPROTO,
		                        "plugin '%s': ABI version %u, this chimed supports %d",
		                        path, (unsigned)p->abi_version, CHIME_PLUGIN_ABI_VERSION);
	if (p->struct_size < PLUGIN_MIN_SIZE)
		return chime_errbuf_set(
		        errbuf, errsize, -EPROTO,
		        "plugin '%s': descriptor is %u bytes, ABI %d needs at least %zu", path,
		        (unsigned)p->struct_size, CHIME_PLUGIN_ABI_VERSION, PLUGIN_MIN_SIZE);
	/* Read only the bytes the plugin declared: a plugin built against
	 * an older header has no later fields (idempotent, check), and they
	 * read as zero: false, and no check() to call. */
	size = p->struct_size < sizeof(*out) ? p->struct_size : sizeof(*out);
	memset(out, 0, sizeof(*out));
	memcpy(out, p, size);
	if (!plugin_name_valid(out->name))
		return chime_errbuf_set(errbuf, errsize, -EINVAL,
		                        "plugin '%s': invalid name (want [a-z0-9_]+)", path);
	if (out->run == NULL)
		return chime_errbuf_set(errbuf, errsize, -EINVAL, "plugin '%s': no run function",
		                        path);
	return 0;
}

int
chime_plugin_host_load(struct chime_plugin_host *host, const char *path, char *errbuf,
                       size_t errsize, const struct chime_plugin **ret_plugin)
{
	const struct chime_plugin *(*entry)(void);
	struct plugin_module *m = NULL;
	const char *err;
	void *sym;
	int r;

	for (size_t i = 0; i < host->n_modules; i++)
		if (strcmp(host->modules[i]->path, path) == 0) {
			*ret_plugin = &host->modules[i]->desc;
			return 0;
		}

	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return chime_errbuf_set(errbuf, errsize, -ENOMEM, "plugin '%s': out of memory",
		                        path);
	m->path = strdup(path);
	if (m->path == NULL) {
		r = chime_errbuf_set(errbuf, errsize, -ENOMEM, "plugin '%s': out of memory", path);
		goto out;
	}
	m->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (m->handle == NULL) {
		err = dlerror();
		r = chime_errbuf_set(errbuf, errsize, -ENOENT, "plugin '%s': cannot load: %s", path,
		                     err != NULL ? err : "unknown error");
		goto out;
	}
	(void)dlerror();
	sym = dlsym(m->handle, "chime_plugin_entry");
	if (sym == NULL) {
		r = chime_errbuf_set(
		        errbuf, errsize, -ENOENT,
		        "plugin '%s': no chime_plugin_entry symbol (not a chime plugin?)", path);
		goto out;
	}
	/* POSIX guarantees object and function pointers convert (dlsym). */
	memcpy(&entry, &sym, sizeof(entry));
	r = plugin_check(path, entry(), &m->desc, errbuf, errsize);
	if (r < 0)
		goto out;

	if (chime_grow(&host->modules, &host->n_allocated, host->n_modules + 1,
	               sizeof(*host->modules)) < 0) {
		r = chime_errbuf_set(errbuf, errsize, -ENOMEM, "plugin '%s': out of memory", path);
		goto out;
	}
	host->modules[host->n_modules++] = m;
	*ret_plugin = &m->desc;
	m = NULL;
	r = 0;
out:
	if (m != NULL) {
		if (m->handle != NULL)
			(void)dlclose(m->handle);
		free(m->path);
		free(m);
	}
	return r;
}

/* ---- Config loader hooks -------------------------------------------- */

static int job_error(struct chime_diag_list *diags, const struct chime_job_config *job,
                     const char *key, const char *fmt, ...) CHIME_PRINTF(4, 5);

/* An error placed at the job, on path "jobs.NAME[.KEY]". Returns -EINVAL. */
static int
job_error(struct chime_diag_list *diags, const struct chime_job_config *job, const char *key,
          const char *fmt, ...)
{
	char path[320];
	va_list ap;

	if (key != NULL)
		snprintf(path, sizeof(path), "jobs.%s.%s", job->name, key);
	else
		snprintf(path, sizeof(path), "jobs.%s", job->name);
	va_start(ap, fmt);
	(void)chime_diag_addv(diags, CHIME_DIAG_ERROR, job->file, job->line, job->column, path, fmt,
	                      ap);
	va_end(ap);
	return -EINVAL;
}

/* `path`, or when relative, taken from the directory of `file`. */
static char *
resolve_path(const char *path, const char *file)
{
	const char *slash;
	char *out;

	if (path[0] == '/' || file == NULL || (slash = strrchr(file, '/')) == NULL)
		return strdup(path);
	if (asprintf(&out, "%.*s/%s", (int)(slash - file), file, path) < 0)
		return NULL;
	return out;
}

bool
chime_plugin_rerun_safe(const struct chime_job_config *job)
{
	const struct chime_plugin *p = job->plugin;

	if (p == NULL)
		return false;
	if (p->rerun_safe != NULL)
		return p->records_in_transaction || p->rerun_safe(job->plugin_state);
	return p->idempotent || p->records_in_transaction;
}

/*
 * `on_lost: rerun` re-runs a lost run whatever the plugin: refused for one
 * that can neither fence (so a stalled node's late work could commit next
 * to the re-run) nor be re-run safely. Placed at the on_lost key that
 * applies (the job's own, or the one in defaults).
 */
#define ON_LOST_RERUN_REFUSED                                                                      \
	"rerun: plugin '%s' of job '%s' can neither fence its work nor be re-run safely "          \
	"(use auto or fail; or, when the work is safe to repeat, say so where the plugin "         \
	"allows it, as exec's options.idempotent: true)"

static int
check_on_lost(const struct chime_job_config *job, const struct chime_plugin *plugin,
              struct chime_diag_list *diags)
{
	if (job->on_lost != CHIME_LOST_RERUN || plugin->fences)
		return 0;
	if (plugin->rerun_safe != NULL ? plugin->rerun_safe(job->plugin_state) : plugin->idempotent)
		return 0;
	if (job->on_lost_node != NULL)
		return chime_node_error(diags, job->on_lost_node, ON_LOST_RERUN_REFUSED,
		                        plugin->name, job->name);
	return job_error(diags, job, "on_lost", ON_LOST_RERUN_REFUSED, plugin->name, job->name);
}

static int
host_check_job(struct chime_job_config *job, struct chime_diag_list *diags, void *userdata)
{
	struct chime_plugin_host *host = userdata;
	const struct chime_plugin *plugin = NULL;
	char err[512], *path = NULL;
	void *state = NULL;
	size_t errors;
	int r;

	if (job->plugin_path != NULL) {
		path = resolve_path(job->plugin_path, job->file);
		if (path == NULL)
			return -ENOMEM;
		r = chime_plugin_host_load(host, path, err, sizeof(err), &plugin);
		if (r < 0) {
			r = job_error(diags, job, "plugin_path", "%s", err);
			goto out;
		}
		if (job->plugin_name != NULL && strcmp(job->plugin_name, plugin->name) != 0) {
			r = job_error(diags, job, "plugin",
			              "plugin '%s' provides plugin '%s', not '%s'", path,
			              plugin->name, job->plugin_name);
			goto out;
		}
		if (job->plugin_name == NULL) {
			job->plugin_name = strdup(plugin->name);
			if (job->plugin_name == NULL) {
				r = -ENOMEM;
				goto out;
			}
		}
	} else if (job->plugin_name != NULL) {
		plugin = chime_plugin_host_builtin(host, job->plugin_name);
		if (plugin == NULL) {
			char known[256] = "";
			size_t len = 0;

			for (size_t i = 0; i < host->n_builtin && len < sizeof(known); i++)
				len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s",
				                        i > 0 ? ", " : "", host->builtin[i]->name);
			r = job_error(diags, job, "plugin", "unknown plugin '%s' (built-in: %s)",
			              job->plugin_name, known);
			goto out;
		}
	} else {
		r = job_error(diags, job, NULL, "no plugin: set 'plugin' or 'plugin_path'");
		goto out;
	}

	if (plugin->configure != NULL) {
		errors = diags->errors;
		r = plugin->configure(job->options, diags, &state);
		if (r < 0) {
			if (diags->errors == errors)
				job_error(diags, job, "options",
				          "plugin '%s' rejected the options: %s", plugin->name,
				          strerror(-r));
			goto out;
		}
	}
	job->plugin = plugin;
	job->plugin_state = state;
	r = check_on_lost(job, plugin, diags);
out:
	free(path);
	return r;
}

static void
host_release_job(struct chime_job_config *job, void *userdata)
{
	if (job->plugin != NULL && job->plugin->release != NULL && job->plugin_state != NULL)
		job->plugin->release(job->plugin_state);
	job->plugin_state = NULL;
}

void
chime_plugin_host_hooks(struct chime_plugin_host *host, struct chime_config_hooks *ret_hooks)
{
	*ret_hooks = (struct chime_config_hooks){
	        .check_job = host_check_job,
	        .release_job = host_release_job,
	        .userdata = host,
	};
}
