/* config.c — read mailtool.conf with libconfig; every error names file and line,
 * and an unknown setting is an error rather than silently ignored. */
#include "config.h"

#include <ctype.h>
#include <libconfig.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static const char *const top_keys[] = { "default", "accounts", "compact", "rules", NULL };

static const char *const account_keys[] = {
	"host", "port", "sieve_port", "tls", "tunnel", "user", "auth", "impersonation", "master_separator",
	"ca_file", "fingerprint", "password_command", "password_file", "token_command", "token_timeout", "allow_plaintext_auth",
	"compress", "connect_timeout", "timeout", "deadline", "persist", "max_rate", "max_connections", NULL,
};

static int exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

int mt_config_load(struct mt_config *c, const char *explicit_path, struct mt_err *e)
{
	char *path = NULL;
	const char *env = getenv("MAILTOOL_CONFIG");
	config_t *cfg;

	memset(c, 0, sizeof *c);
	if (explicit_path) {
		if (!exists(explicit_path))
			return mt_seterr(e, MT_ECONFIG, "cannot read configuration '%s': no such file", explicit_path);
		path = mt_xstrdup(explicit_path);
	} else if (env && *env) {
		if (!exists(env))
			return mt_seterr(e, MT_ECONFIG, "cannot read configuration '%s' (from MAILTOOL_CONFIG): no such file", env);
		path = mt_xstrdup(env);
	} else {
		const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
		char *cand = NULL;
		if (xdg && *xdg)
			cand = mt_xasprintf("%s/mailtool/mailtool.conf", xdg);
		else if (home && *home)
			cand = mt_xasprintf("%s/.config/mailtool/mailtool.conf", home);
		if (cand && exists(cand))
			path = cand;
		else {
			free(cand);
			if (exists("/etc/mailtool.conf"))
				path = mt_xstrdup("/etc/mailtool.conf");
		}
	}
	if (path == NULL)
		return MT_OK;

	if (mt_cfg_check_ints(path, e) != MT_OK) {
		free(path);
		return MT_ECONFIG;
	}
	cfg = mt_xmalloc(sizeof *cfg);
	config_init(cfg);
	if (config_read_file(cfg, path) != CONFIG_TRUE) {
		if (config_error_type(cfg) == CONFIG_ERR_FILE_IO)
			mt_seterr(e, MT_ECONFIG, "cannot read configuration '%s'", path);
		else
			mt_seterr(e, MT_ECONFIG, "%s:%d: %s", config_error_file(cfg) ? config_error_file(cfg) : path,
				  config_error_line(cfg), config_error_text(cfg));
		config_destroy(cfg);
		free(cfg);
		free(path);
		return MT_ECONFIG;
	}
	c->cfg = cfg;
	c->path = path;

	/* unknown top-level settings are errors */
	config_setting_t *root = config_root_setting(cfg);
	for (int i = 0; i < config_setting_length(root); i++) {
		config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *n = config_setting_name(s);
		int ok = 0;
		for (const char *const *k = top_keys; *k; k++)
			ok |= n && strcmp(n, *k) == 0;
		if (!ok) {
			mt_seterr(e, MT_ECONFIG, "%s:%d: unknown setting '%s' (expected one of: default, accounts, compact, rules)",
				  path, config_setting_source_line(s), n ? n : "?");
			mt_config_release(c);
			return MT_ECONFIG;
		}
	}
	return MT_OK;
}

void mt_config_release(struct mt_config *c)
{
	if (c->cfg) {
		config_destroy(c->cfg);
		free(c->cfg);
	}
	free(c->path);
	memset(c, 0, sizeof *c);
}

void *mt_config_section(struct mt_config *c, const char *name)
{
	return c->cfg ? config_lookup(c->cfg, name) : NULL;
}

void mt_config_list_accounts(struct mt_config *c, FILE *f)
{
	config_setting_t *accts = c->cfg ? config_lookup(c->cfg, "accounts") : NULL;
	if (accts == NULL || !config_setting_is_group(accts))
		return;
	for (int i = 0; i < config_setting_length(accts); i++)
		fprintf(f, "%s\n", config_setting_name(config_setting_get_elem(accts, (unsigned)i)));
}

static int cfg_err(struct mt_config *c, config_setting_t *s, struct mt_err *e, const char *what)
{
	return mt_seterr(e, MT_ECONFIG, "%s:%d: '%s': %s", c->path, config_setting_source_line(s),
			 config_setting_name(s) ? config_setting_name(s) : "?", what);
}

/* "sha256:" and 64 hex digits; the colons of `openssl x509 -fingerprint
 * -sha256` (AB:CD:...) are taken out. The pin as the transport compares it,
 * or NULL. */
char *mt_fingerprint_pin(const char *v)
{
	if (strncasecmp(v, "sha256:", 7) != 0 && strncasecmp(v, "sha256=", 7) != 0)
		return NULL;
	char *pin = mt_xmalloc(7 + 64 + 1);
	size_t n = 0;
	memcpy(pin, "sha256:", 7);
	for (const char *p = v + 7; *p; p++) {
		if (*p == ':' && n % 2 == 0 && n > 0)
			continue;
		if (!isxdigit((unsigned char)*p) || n == 64) {
			free(pin);
			return NULL;
		}
		pin[7 + n++] = (char)tolower((unsigned char)*p);
	}
	pin[7 + n] = '\0';
	if (n != 64) {
		free(pin);
		return NULL;
	}
	return pin;
}

static int get_str(struct mt_config *c, config_setting_t *s, char **out, struct mt_err *e)
{
	const char *v = config_setting_get_string(s);
	if (config_setting_type(s) != CONFIG_TYPE_STRING || v == NULL)
		return cfg_err(c, s, e, "expected a string in double quotes");
	free(*out);
	*out = mt_xstrdup(v);
	return MT_OK;
}

static int get_seconds(struct mt_config *c, config_setting_t *s, double *out, struct mt_err *e)
{
	int t = config_setting_type(s);
	if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
		*out = (double)config_setting_get_int64(s);
		return MT_OK;
	}
	if (t == CONFIG_TYPE_FLOAT) {
		*out = config_setting_get_float(s);
		return MT_OK;
	}
	if (t == CONFIG_TYPE_STRING) {
		uint64_t v;
		struct mt_err e2;
		if (mt_parse_duration(config_setting_get_string(s), &v, &e2) == MT_OK) {
			*out = (double)v;
			return MT_OK;
		}
		return cfg_err(c, s, e, e2.msg);
	}
	return cfg_err(c, s, e, "expected seconds or a duration like \"30s\"");
}

static int get_bool(struct mt_config *c, config_setting_t *s, int *out, struct mt_err *e)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return cfg_err(c, s, e, "expected true or false");
	*out = config_setting_get_bool(s);
	return MT_OK;
}

static int apply_account(struct mt_config *c, config_setting_t *g, struct mt_account *a, struct mt_err *e)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *n = config_setting_name(s);
		int r = MT_OK;
		char *tmp = NULL;

		if (strcmp(n, "host") == 0) r = get_str(c, s, &a->host, e);
		else if (strcmp(n, "port") == 0 || strcmp(n, "sieve_port") == 0) {
			if (config_setting_type(s) != CONFIG_TYPE_INT || config_setting_get_int(s) < 1 ||
			    config_setting_get_int(s) > 65535)
				r = cfg_err(c, s, e, "expected a port number 1-65535");
			else
				*(strcmp(n, "port") == 0 ? &a->port : &a->sieve_port) = config_setting_get_int(s);
		} else if (strcmp(n, "tls") == 0) {
			if ((r = get_str(c, s, &tmp, e)) == MT_OK && tmp) {
				if (strcmp(tmp, "implicit") == 0 || strcmp(tmp, "yes") == 0) a->tls = MT_TLS_IMPLICIT;
				else if (strcmp(tmp, "starttls") == 0) a->tls = MT_TLS_STARTTLS;
				else if (strcmp(tmp, "none") == 0) a->tls = MT_TLS_NONE;
				else r = cfg_err(c, s, e, "expected \"implicit\", \"starttls\" or \"none\"");
			}
		} else if (strcmp(n, "tunnel") == 0) r = get_str(c, s, &a->tunnel, e);
		else if (strcmp(n, "user") == 0) r = get_str(c, s, &a->user, e);
		else if (strcmp(n, "auth") == 0) {
			if ((r = get_str(c, s, &tmp, e)) == MT_OK && tmp) {
				if (strcmp(tmp, "auto") == 0) a->auth = MT_AUTH_AUTO;
				else if (strcmp(tmp, "plain") == 0) a->auth = MT_AUTH_PLAIN;
				else if (strcmp(tmp, "login") == 0) a->auth = MT_AUTH_LOGIN;
				else if (strcmp(tmp, "oauthbearer") == 0) a->auth = MT_AUTH_OAUTHBEARER;
				else if (strcmp(tmp, "xoauth2") == 0) a->auth = MT_AUTH_XOAUTH2;
				else r = cfg_err(c, s, e, "expected \"auto\", \"plain\", \"login\", \"oauthbearer\" or \"xoauth2\"");
			}
		} else if (strcmp(n, "impersonation") == 0) {
			if ((r = get_str(c, s, &tmp, e)) == MT_OK && tmp) {
				if (strcmp(tmp, "authzid") == 0) a->impersonation = MT_IMP_AUTHZID;
				else if (strcmp(tmp, "master-login") == 0) a->impersonation = MT_IMP_MASTER_LOGIN;
				else r = cfg_err(c, s, e, "expected \"authzid\" or \"master-login\"");
			}
		} else if (strcmp(n, "master_separator") == 0) r = get_str(c, s, &a->master_separator, e);
		else if (strcmp(n, "ca_file") == 0) r = get_str(c, s, &a->ca_file, e);
		else if (strcmp(n, "fingerprint") == 0) {
			/* the pin as --fingerprint takes it, so the transport compares like with like */
			char *pin = NULL;
			if ((r = get_str(c, s, &a->fingerprint, e)) == MT_OK && (pin = mt_fingerprint_pin(a->fingerprint)) == NULL)
				r = cfg_err(c, s, e, "expected \"sha256:\" followed by 64 hex digits");
			if (pin) {
				free(a->fingerprint);
				a->fingerprint = pin;
			}
		} else if (strcmp(n, "password_command") == 0) r = get_str(c, s, &a->password_command, e);
		else if (strcmp(n, "password_file") == 0) r = get_str(c, s, &a->password_file, e);
		else if (strcmp(n, "token_command") == 0) r = get_str(c, s, &a->token_command, e);
		else if (strcmp(n, "token_timeout") == 0) {
			if ((r = get_seconds(c, s, &a->token_timeout, e)) == MT_OK && !(a->token_timeout > 0))
				r = cfg_err(c, s, e, "expected a time above zero");
		}
		else if (strcmp(n, "allow_plaintext_auth") == 0) r = get_bool(c, s, &a->allow_plaintext_auth, e);
		else if (strcmp(n, "compress") == 0) r = get_bool(c, s, &a->compress, e);
		else if (strcmp(n, "connect_timeout") == 0) r = get_seconds(c, s, &a->connect_timeout, e);
		else if (strcmp(n, "timeout") == 0) r = get_seconds(c, s, &a->idle_timeout, e);
		else if (strcmp(n, "deadline") == 0) r = get_seconds(c, s, &a->deadline, e);
		else if (strcmp(n, "persist") == 0) r = get_seconds(c, s, &a->persist, e);
		else if (strcmp(n, "max_rate") == 0) {
			const char *v = config_setting_get_string(s);
			if (v == NULL || mt_parse_rate(v, &a->max_rate) < 0)
				r = cfg_err(c, s, e, "max_rate: expected commands per second or minute, such as \"10/s\" or \"300/min\"");
		}
		else if (strcmp(n, "max_connections") == 0) {
			if (config_setting_type(s) != CONFIG_TYPE_INT || config_setting_get_int(s) < 1 ||
			    config_setting_get_int(s) > 1000)
				r = cfg_err(c, s, e, "max_connections: expected a number of connections from 1 to 1000");
			else
				a->max_connections = config_setting_get_int(s);
		}
		else if (strcmp(n, "password") == 0)
			r = cfg_err(c, s, e, "passwords are not stored in the configuration; use password_command or password_file");
		else {
			char msg[512];
			size_t off = (size_t)snprintf(msg, sizeof msg, "unknown setting (expected one of:");
			for (const char *const *k = account_keys; *k && off < sizeof msg; k++)
				off += (size_t)snprintf(msg + off, sizeof msg - off, " %s", *k);
			if (off < sizeof msg)
				snprintf(msg + off, sizeof msg - off, ")");
			r = cfg_err(c, s, e, msg);
		}
		free(tmp);
		if (r != MT_OK)
			return r;
	}
	return MT_OK;
}

int mt_config_account(struct mt_config *c, const char *name, struct mt_account *a, struct mt_err *e)
{
	memset(a, 0, sizeof *a);
	a->compress = -1;   /* auto: on unless the peer is loopback or a tunnel */
	a->connect_timeout = 15;
	a->idle_timeout = 30;
	a->deadline = 0;
	a->auth = MT_AUTH_AUTO;
	a->impersonation = MT_IMP_AUTHZID;

	config_setting_t *accts = c->cfg ? config_lookup(c->cfg, "accounts") : NULL;
	if (accts && !config_setting_is_group(accts))
		return cfg_err(c, accts, e, "expected a group of accounts: accounts = { name = { ... }; }");
	if (name == NULL && c->cfg) {
		const char *d = NULL;
		config_setting_t *ds = config_lookup(c->cfg, "default");
		if (ds) {
			if (config_setting_type(ds) != CONFIG_TYPE_STRING)
				return cfg_err(c, ds, e, "expected the name of an account in double quotes");
			d = config_setting_get_string(ds);
		}
		if (d)
			name = d;
		else if (accts && config_setting_length(accts) == 1)
			name = config_setting_name(config_setting_get_elem(accts, 0));
	}
	if (name == NULL || *name == '\0') {
		a->name = mt_xstrdup("command line");
		return MT_OK;
	}
	config_setting_t *g = accts ? config_setting_get_member(accts, name) : NULL;
	if (g == NULL) {
		if (c->path)
			return mt_seterr(e, MT_ECONFIG, "%s: no account '%s'", c->path, name);
		return mt_seterr(e, MT_ECONFIG, "no account '%s': no configuration file found", name);
	}
	if (!config_setting_is_group(g))
		return cfg_err(c, g, e, "expected a group { host = ...; }");
	a->name = mt_xstrdup(name);
	a->config_file = mt_xstrdup(c->path);
	int r = apply_account(c, g, a, e);
	if (r != MT_OK)
		mt_account_release(a);   /* nothing half-read survives an error */
	return r;
}


/* ---- compact policy ----------------------------------------------------- */

static int get_duration_or_never(struct mt_config *c, config_setting_t *s, int64_t *out, struct mt_err *e)
{
	const char *v = config_setting_get_string(s);
	uint64_t secs;
	struct mt_err e2;
	if (config_setting_type(s) == CONFIG_TYPE_BOOL && !config_setting_get_bool(s)) {
		*out = -1;  /* false: skip this step */
		return MT_OK;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING || v == NULL)
		return cfg_err(c, s, e, "expected a duration like \"30d\", or false");
	if (mt_parse_duration(v, &secs, &e2) != MT_OK)
		return cfg_err(c, s, e, e2.msg);
	*out = (int64_t)secs;
	return MT_OK;
}

static int get_pct(struct mt_config *c, config_setting_t *s, double *out, struct mt_err *e)
{
	int t = config_setting_type(s);
	double v = t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 ? (double)config_setting_get_int64(s) :
		   t == CONFIG_TYPE_FLOAT ? config_setting_get_float(s) : -1;
	if (v < 0 || v > 100)
		return cfg_err(c, s, e, "expected a percentage 0-100");
	*out = v;
	return MT_OK;
}

int mt_config_compact(struct mt_config *c, struct mt_compact_policy *p, struct mt_err *e)
{
	memset(p, 0, sizeof *p);
	p->if_over = p->target = -1;
	p->trash_older = p->junk_older = 30 * 86400;
	p->deleted = 1;
	config_setting_t *g = c->cfg ? config_lookup(c->cfg, "compact") : NULL;
	if (g == NULL)
		return MT_OK;
	if (!config_setting_is_group(g))
		return cfg_err(c, g, e, "expected a group: compact = { ... };");
	for (int i = 0; i < config_setting_length(g); i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *n = config_setting_name(s);
		int r = MT_OK;
		if (strcmp(n, "if_over") == 0) r = get_pct(c, s, &p->if_over, e);
		else if (strcmp(n, "target") == 0) r = get_pct(c, s, &p->target, e);
		else if (strcmp(n, "if_larger") == 0) {
			const char *v = config_setting_get_string(s);
			struct mt_err e2;
			if (v == NULL || mt_parse_size(v, &p->if_larger, &e2) != MT_OK)
				r = cfg_err(c, s, e, "expected a size like \"2G\"");
		} else if (strcmp(n, "deleted") == 0) r = get_bool(c, s, &p->deleted, e);
		else if (strcmp(n, "trash_older") == 0) r = get_duration_or_never(c, s, &p->trash_older, e);
		else if (strcmp(n, "junk_older") == 0) r = get_duration_or_never(c, s, &p->junk_older, e);
		else if (strcmp(n, "steps") == 0) {
			if (!config_setting_is_list(s))
				r = cfg_err(c, s, e, "expected a list: steps = ( { folder = \"...\"; older = \"1y\"; } );");
			for (int k = 0; r == MT_OK && k < config_setting_length(s); k++) {
				config_setting_t *st = config_setting_get_elem(s, (unsigned)k);
				struct mt_compact_step step = { .older = -1 };
				if (!config_setting_is_group(st)) {
					r = cfg_err(c, s, e, "each step is a group { folder = ...; older = ...; }");
					break;
				}
				for (int j = 0; r == MT_OK && j < config_setting_length(st); j++) {
					config_setting_t *f = config_setting_get_elem(st, (unsigned)j);
					const char *fn = config_setting_name(f);
					if (strcmp(fn, "folder") == 0) r = get_str(c, f, &step.folder, e);
					else if (strcmp(fn, "older") == 0) r = get_duration_or_never(c, f, &step.older, e);
					else if (strcmp(fn, "larger") == 0) {
						const char *v = config_setting_get_string(f);
						struct mt_err e2;
						if (v == NULL || mt_parse_size(v, &step.larger, &e2) != MT_OK)
							r = cfg_err(c, f, e, "expected a size like \"10M\"");
					} else
						r = cfg_err(c, f, e, "unknown setting (expected folder, older, larger)");
				}
				if (r == MT_OK && step.folder == NULL)
					r = cfg_err(c, st, e, "a step needs folder = \"...\"");
				if (r == MT_OK && step.older < 0 && step.larger == 0)
					r = cfg_err(c, st, e, "a step needs older or larger (a step never empties a folder whole)");
				if (r != MT_OK) {
					free(step.folder);
					break;
				}
				p->steps = mt_xrealloc(p->steps, sizeof *p->steps * (p->nsteps + 1));
				p->steps[p->nsteps++] = step;
			}
		} else
			r = cfg_err(c, s, e, "unknown setting (expected if_over, target, if_larger, deleted, "
				    "trash_older, junk_older, steps)");
		if (r != MT_OK) {
			mt_compact_policy_release(p);
			return r;
		}
	}
	return MT_OK;
}

void mt_compact_policy_release(struct mt_compact_policy *p)
{
	for (size_t i = 0; i < p->nsteps; i++)
		free(p->steps[i].folder);
	free(p->steps);
	p->steps = NULL;
	p->nsteps = 0;
}
