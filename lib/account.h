/* account.h — what a session needs to know about an account: where the
 * server is, how to secure and authenticate, the time limits. Filled in by
 * the command-line layer (tool/config.c) from mailtool.conf and the options. */
#ifndef MT_ACCOUNT_H
#define MT_ACCOUNT_H

enum mt_tls { MT_TLS_UNSET, MT_TLS_IMPLICIT, MT_TLS_STARTTLS, MT_TLS_NONE };
/* OAUTHBEARER (RFC 7628) and XOAUTH2 log in with a bearer token from
 * token_command instead of a password */
enum mt_auth { MT_AUTH_AUTO, MT_AUTH_PLAIN, MT_AUTH_LOGIN, MT_AUTH_OAUTHBEARER, MT_AUTH_XOAUTH2 };
enum mt_imp { MT_IMP_AUTHZID, MT_IMP_MASTER_LOGIN };

struct mt_account {
	char *name;             /* account name, or "command line" */
	char *host;
	int port;               /* 0 = default for the TLS mode */
	int sieve_port;         /* ManageSieve, 0 = 4190 */
	enum mt_tls tls;
	char *tunnel;           /* command, or NULL */
	char *user;
	char *as_user;          /* --as: act as this user (impersonation) */
	enum mt_auth auth;
	enum mt_imp impersonation;
	char *master_separator; /* for MT_IMP_MASTER_LOGIN, default "*" */
	char *ca_file;
	char *fingerprint;      /* "sha256:<hex>" */
	char *password_command;
	char *password_file;
	char *token_command;    /* prints an access token (auth oauthbearer/xoauth2) */
	double token_timeout;   /* seconds token_command may take, 0 = default (30) */
	int allow_plaintext_auth;
	int compress;           /* 1 = use COMPRESS=DEFLATE when offered, 0 = never,
				 * -1 = auto: not to loopback peers or tunnels, where
				 * deflating costs the server more than it saves */
	double connect_timeout; /* seconds */
	double idle_timeout;    /* seconds without any byte from the server */
	double deadline;        /* seconds for the whole run, 0 = none */
	double persist;         /* keep the session this long for later runs, 0 = no */
	double max_rate;        /* commands per second per session, 0 = no limit */
	int max_connections;    /* at once to this account (filter --watch), 0 = the applet's default */
	char *config_file;      /* where it came from, or NULL */
};

void mt_account_release(struct mt_account *a);

/* logs in with a token (auth = "oauthbearer" / "xoauth2") */
static inline int mt_account_oauth(const struct mt_account *a)
{
	return a->auth == MT_AUTH_OAUTHBEARER || a->auth == MT_AUTH_XOAUTH2;
}

#endif
