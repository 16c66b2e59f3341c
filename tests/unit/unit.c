/* unit.c — unit tests for the pure code in lib/ (sizes, durations, modified
 * UTF-7, UID sets, JSON escaping). `mt-unit NAME` runs one group, `mt-unit`
 * lists them; tests/unit.bats runs each group as a BATS test. */
#include "../../lib/mt.h"
#include "../../tool/tool.h"
#include "../../filters/rules.h"
#include "../../filters/query.h"
#include "../../filters/sieve.h"
#include "../../lib/localmail.h"
#include "../../lib/numguard.h"
#include "../../lib/auth.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <regex.h>
#include <locale.h>

static int failures;

#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); failures++; } } while (0)
#define CHECK_STR(got, want) do { const char *g_ = (got), *w_ = (want); \
	if (g_ == NULL || strcmp(g_, w_) != 0) { fprintf(stderr, "%s:%d: got '%s', want '%s'\n", __FILE__, __LINE__, g_ ? g_ : "(null)", w_); failures++; } } while (0)

static void t_size(void)
{
	uint64_t v;
	struct mt_err e;
	CHECK(mt_parse_size("123", &v, &e) == 0 && v == 123);
	CHECK(mt_parse_size("500k", &v, &e) == 0 && v == 500 * 1024);
	CHECK(mt_parse_size("10M", &v, &e) == 0 && v == 10ULL << 20);
	CHECK(mt_parse_size("1.5G", &v, &e) == 0 && v == 3ULL << 29);
	CHECK(mt_parse_size("2GiB", &v, &e) == 0 && v == 2ULL << 30);
	CHECK(mt_parse_size("0", &v, &e) == 0 && v == 0);
	CHECK(mt_parse_size("-1", &v, &e) == MT_EDATA);
	CHECK(strstr(e.msg, "'-1'") != NULL);
	CHECK(mt_parse_size("", &v, &e) == MT_EDATA);
	CHECK(mt_parse_size("10X", &v, &e) == MT_EDATA && strstr(e.msg, "unknown unit 'X'"));
	CHECK(mt_parse_size("M", &v, &e) == MT_EDATA);
	CHECK(mt_parse_size("1e400", &v, &e) == MT_EDATA);
	CHECK(mt_parse_size("99999999999T", &v, &e) == MT_EDATA);
	CHECK(mt_parse_size("nan", &v, &e) == MT_EDATA);
}

static void t_date(void)
{
	time_t t = 0;
	CHECK(mt_parse_date("2024-02-29", &t) == 0 && t == 1709164800);
	CHECK(mt_parse_date("1970-01-01", &t) == 0 && t == 0);
	CHECK(mt_parse_date("2024-02-30", &t) < 0);   /* no 30 February: never 1 March */
	CHECK(mt_parse_date("2023-02-29", &t) < 0);
	CHECK(mt_parse_date("2024-13-01", &t) < 0);
	CHECK(mt_parse_date("2024-00-10", &t) < 0);
	CHECK(mt_parse_date("2024-04-31", &t) < 0);
	CHECK(mt_parse_date("24-01-01", &t) < 0);     /* strptime took this as the year 24 */
	CHECK(mt_parse_date("2024-1-01", &t) < 0);
	CHECK(mt_parse_date("2024-01-01x", &t) < 0);
	CHECK(mt_parse_date("2024-01-0", &t) < 0);
	CHECK(mt_parse_date("", &t) < 0);
	CHECK(mt_parse_date("1899-12-31", &t) < 0);
}

static void t_duration(void)
{
	uint64_t v;
	struct mt_err e;
	CHECK(mt_parse_duration("90m", &v, &e) == 0 && v == 5400);
	CHECK(mt_parse_duration("36h", &v, &e) == 0 && v == 36 * 3600);
	CHECK(mt_parse_duration("30d", &v, &e) == 0 && v == 30 * 86400);
	CHECK(mt_parse_duration("6w", &v, &e) == 0 && v == 42 * 86400);
	{
		/* calendar months and years, from a fixed local time (UTC: no DST hour) */
		setenv("TZ", "UTC", 1);
		tzset();
		struct tm tm = { .tm_year = 2026 - 1900, .tm_mon = 2, .tm_mday = 31, .tm_hour = 12, .tm_isdst = -1 };
		time_t now = mktime(&tm);   /* 31 March 2026, noon */
		CHECK(mt_parse_duration_at("1mo", now, &v, &e) == 0 && v == 31 * 86400);   /* 28 February */
		CHECK(mt_parse_duration_at("3mo", now, &v, &e) == 0 && v == 90 * 86400);   /* 31 December 2025 */
		CHECK(mt_parse_duration_at("1y", now, &v, &e) == 0 && v == 365 * 86400);
		CHECK(mt_parse_duration_at("1y6mo", now, &v, &e) == 0 && v == 547 * 86400ULL);  /* 30 September 2024 */
		CHECK(mt_parse_duration_at("2d12h", now, &v, &e) == 0 && v == 60 * 3600);
		CHECK(mt_parse_duration_at("1h30m", now, &v, &e) == 0 && v == 5400);
		CHECK(mt_parse_duration_at("1mo2d", now, &v, &e) == 0 && v == 33 * 86400);
		struct tm lp = { .tm_year = 2024 - 1900, .tm_mon = 2, .tm_mday = 1, .tm_isdst = -1 };
		CHECK(mt_parse_duration_at("1y", mktime(&lp), &v, &e) == 0 && v == 366 * 86400);  /* 1 March 2023, over 29 February 2024 */
		CHECK(mt_parse_duration_at("1.5mo", now, &v, &e) == MT_EDATA && strstr(e.msg, "whole numbers"));
		CHECK(mt_parse_duration_at("3M", now, &v, &e) == MT_EDATA && strstr(e.msg, "mo calendar months"));
		CHECK(mt_parse_duration_at("1y6", now, &v, &e) == MT_EDATA && strstr(e.msg, "needs a unit"));
		CHECK(mt_parse_duration_at("1yy", now, &v, &e) == MT_EDATA);
		CHECK(mt_parse_duration_at("1.2.3h", now, &v, &e) == MT_EDATA && strstr(e.msg, "not a number"));
		CHECK(mt_parse_duration_at("99999y", now, &v, &e) == MT_EDATA && strstr(e.msg, "too large"));
		/* what OLDER/YOUNGER carry: 32 bits of seconds */
		CHECK(mt_parse_duration_at("137y", now, &v, &e) == MT_EDATA && strstr(e.msg, "136 years"));
		CHECK(mt_parse_duration_at("136y", now, &v, &e) == 0 && v <= 4294967295ULL);
		CHECK(mt_parse_duration_at("5000000000s", now, &v, &e) == MT_EDATA);
	}
	CHECK(mt_parse_duration("45s", &v, &e) == 0 && v == 45);
	CHECK(mt_parse_duration("1.5h", &v, &e) == 0 && v == 5400);
	CHECK(mt_parse_duration("3x", &v, &e) == MT_EDATA && strstr(e.msg, "'3x'"));
	CHECK(mt_parse_duration("30", &v, &e) == MT_EDATA && strstr(e.msg, "needs a unit"));
	CHECK(mt_parse_duration("-5d", &v, &e) == MT_EDATA);
	CHECK(mt_parse_duration("d", &v, &e) == MT_EDATA);
}

static void t_pct(void)
{
	double v;
	CHECK(mt_parse_pct("85", 100, &v) == 0 && v == 85);
	CHECK(mt_parse_pct("85%", 100, &v) == 0 && v == 85);
	CHECK(mt_parse_pct("12.5", 100, &v) == 0 && v == 12.5);
	CHECK(mt_parse_pct("150", 100, &v) < 0);
	CHECK(mt_parse_pct("-1", 100, &v) < 0);
	CHECK(mt_parse_pct("abc", 100, &v) < 0);
	CHECK(mt_parse_pct("", 100, &v) < 0);
	CHECK(mt_parse_pct("nan", 100, &v) < 0);
	CHECK(mt_parse_pct("5x", 100, &v) < 0);
}

static void t_human(void)
{
	char b[32];
	CHECK_STR(mt_human_size(b, sizeof b, 0), "0 B");
	CHECK_STR(mt_human_size(b, sizeof b, 1023), "1023 B");
	CHECK_STR(mt_human_size(b, sizeof b, 1536), "1.5 KiB");
	CHECK_STR(mt_human_size(b, sizeof b, 300ULL << 20), "300 MiB");
	CHECK_STR(mt_human_size(b, sizeof b, 5ULL << 30), "5.0 GiB");
}

static void roundtrip(const char *utf8, const char *want)
{
	char *enc = mt_mutf7_encode(utf8);
	CHECK_STR(enc, want);
	char *dec = enc ? mt_mutf7_decode(enc) : NULL;
	CHECK_STR(dec, utf8);
	free(enc);
	free(dec);
}

static void t_mutf7(void)
{
	roundtrip("INBOX", "INBOX");
	roundtrip("Projets/Été", "Projets/&AMk-t&AOk-");
	roundtrip("&", "&-");
	roundtrip("Tom & Jerry", "Tom &- Jerry");
	roundtrip("日本語", "&ZeVnLIqe-");
	roundtrip("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
	roundtrip("😀", "&2D3eAA-");             /* outside the BMP: a surrogate pair */
	roundtrip("Old Stuff", "Old Stuff");
	/* invalid input is refused, never passed through */
	CHECK(mt_mutf7_encode("\xff\xfe") == NULL);
	CHECK(mt_mutf7_encode("\xc3") == NULL);         /* truncated UTF-8 */
	CHECK(mt_mutf7_encode("\xc0\xaf") == NULL);     /* overlong */
	CHECK(mt_mutf7_decode("&AMk") == NULL);          /* unterminated */
	CHECK(mt_mutf7_decode("&AGEAYgBj-") == NULL);    /* ASCII must not be encoded */
	CHECK(mt_mutf7_decode("&2D0-") == NULL);         /* lone high surrogate */
	CHECK(mt_mutf7_decode("caf\xc3\xa9") == NULL);   /* 8-bit in mUTF-7 */
	char *amp = mt_mutf7_decode("&-");
	CHECK_STR(amp, "&");
	free(amp);
	CHECK(mt_mailbox_name_ok("a/b") && !mt_mailbox_name_ok("a\r\nb") && !mt_mailbox_name_ok(""));
}

static void t_uidset(void)
{
	uint32_t u[] = { 1, 2, 3, 5, 7, 8, 9, 4294967295u };
	char *s = mt_uidset(u, 8);
	CHECK_STR(s, "1:3,5,7:9,4294967295");
	uint32_t back[16];
	CHECK(mt_uidset_parse(s, back, 16) == 8 && memcmp(back, u, sizeof u) == 0);
	free(s);
	s = mt_uidset(u, 0);
	CHECK_STR(s, "");
	free(s);
	CHECK(mt_uidset_parse("5:3", back, 16) == 3 && back[0] == 3 && back[2] == 5);
	CHECK(mt_uidset_parse("1,,2", back, 16) < 0);
	CHECK(mt_uidset_parse("0", back, 16) < 0);
	CHECK(mt_uidset_parse("4294967296", back, 16) < 0);
	CHECK(mt_uidset_parse("1:100", back, 16) < 0);   /* larger than the buffer */
	CHECK(mt_uidset_parse("", back, 16) < 0);
}

static void t_json(void)
{
	char b[64];
	mt_json_escape(b, sizeof b, "a\"b\\c\n\t\x01 é");
	CHECK_STR(b, "\"a\\\"b\\\\c\\n\\t\\u0001 é\"");
	CHECK(mt_json_escape(NULL, 0, "abc") == 5);
	mt_json_escape(b, 4, "abcdef");   /* truncates, stays terminated */
	CHECK(strlen(b) == 3);
}

static void t_wild(void)
{
	CHECK(mt_wildmatch("*", "a/b/c", '/'));
	CHECK(mt_wildmatch("%", "INBOX", '/'));
	CHECK(!mt_wildmatch("%", "a/b", '/'));
	CHECK(mt_wildmatch("Lists/*", "Lists/dev", '/'));
	CHECK(mt_wildmatch("Lists/*", "Lists/dev/old", '/'));
	CHECK(!mt_wildmatch("Lists/%", "Lists/dev/old", '/'));
	CHECK(mt_wildmatch("Lists/%", "Lists/dev", '/'));
	CHECK(!mt_wildmatch("Lists/*", "Lists", '/'));
	CHECK(mt_wildmatch("*dev*", "Lists/dev/x", '/'));
	CHECK(mt_wildmatch("a%c", "abbc", '/'));
	CHECK(!mt_wildmatch("a%c", "ab/c", '/'));
	CHECK(mt_wildmatch("Projets/Été", "Projets/Été", '/'));
	CHECK(!mt_wildmatch("INBOX", "INBOX2", '/'));
	CHECK(mt_wildmatch("a**b", "axyb", '/'));
	CHECK(mt_wildmatch("%", "a.b", 0));
	CHECK(mt_wildmatch("*/%", "x/y/z", '/'));
	CHECK(!mt_wildmatch("%/%", "x/y/z", '/'));
	CHECK(mt_wildmatch("", "", '/') && !mt_wildmatch("", "a", '/'));
	/* many wildcards against a long name: linear, not exponential (fuzz find) */
	char pat[64], name[128];
	memset(pat, '%', 40), strcpy(pat + 40, "b");
	memset(name, 'a', 100), name[100] = '\0';
	CHECK(!mt_wildmatch(pat, name, '/'));
	name[99] = 'b';
	CHECK(mt_wildmatch(pat, name, '/'));
}

static void t_words(void)
{
	char **w;
	const char *rest;
	CHECK(mt_split_words("du -h  --sort size", 0, &w, NULL) == 4);
	CHECK_STR(w[0], "du"); CHECK_STR(w[3], "size"); CHECK(w[4] == NULL);
	mt_words_free(w);
	CHECK(mt_split_words("ls 'Old Stuff' \"Projets/Été\" a\\ b # comment", 0, &w, NULL) == 4);
	CHECK_STR(w[1], "Old Stuff"); CHECK_STR(w[2], "Projets/Été"); CHECK_STR(w[3], "a b");
	mt_words_free(w);
	CHECK(mt_split_words("quota; du -h ;compact", 1, &w, &rest) == 1);
	CHECK_STR(w[0], "quota"); CHECK_STR(rest, " du -h ;compact");
	mt_words_free(w);
	CHECK(mt_split_words("expunge --subject 'a;b' INBOX", 1, &w, &rest) == 4 && rest == NULL);
	CHECK_STR(w[2], "a;b");
	mt_words_free(w);
	CHECK(mt_split_words("say \"a \\\" b\"", 0, &w, NULL) == 2);
	CHECK_STR(w[1], "a \" b");
	mt_words_free(w);
	CHECK(mt_split_words("ls 'unterminated", 0, &w, NULL) == -1 && w == NULL);
	CHECK(mt_split_words("   # only a comment", 0, &w, NULL) == 0);
	mt_words_free(w);
	CHECK(mt_split_words("''", 0, &w, NULL) == 1);
	CHECK_STR(w[0], "");
	mt_words_free(w);
}

static void t_edit(void)
{
	CHECK(mt_edit_distance("du", "du") == 0);
	CHECK(mt_edit_distance("dux", "du") == 1);
	CHECK(mt_edit_distance("qouta", "quota") == 1);   /* a swap is one slip */
	CHECK(mt_edit_distance("abc", "cba") == 2);
	/* suggested only when close: a third of the word at most */
	CHECK(mt_near_miss("qouta", "quota") == 1);
	CHECK(mt_near_miss("sotr", "sort") == 1);
	CHECK(mt_near_miss("top", "tls") == 0);
	CHECK(mt_near_miss("version", "persist") == 0);
	CHECK(mt_near_miss("quota", "quota") == 0);
}

static void t_table(void)
{
	static const struct mt_col cols[] = { { .name = "folder", .type = MT_COL_STR }, { .name = "size", .type = MT_COL_SIZE },
					      { .name = "ok", .type = MT_COL_BOOL } };
	struct mt_table t;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	mt_table_init(&t, cols, 3, MT_FMT_TSV, 0);
	t.type = "folder";
	int r = mt_table_row(&t);
	mt_table_str(&t, r, 0, "a\tb");
	mt_table_num(&t, r, 1, 2048);
	mt_table_bool(&t, r, 2, 1);
	r = mt_table_row_type(&t, "total");
	mt_table_label(&t, r, 0, "(total)");
	mt_table_num(&t, r, 1, 2048);
	mt_table_print(&t, f);
	t.fmt = MT_FMT_JSON;
	mt_table_print(&t, f);
	fclose(f);
	/* a tab (any control) in a TSV field is escaped; the table keeps the text
	 * for JSON; the total is JSON's only, its label null, an unset key null */
	CHECK_STR(buf, "folder\tsize\tok\na\\x09b\t2048\ttrue\n"
		  "{\"schema\":1,\"type\":\"folder\",\"folder\":\"a\\tb\",\"size\":2048,\"ok\":true}\n"
		  "{\"schema\":1,\"type\":\"total\",\"folder\":null,\"size\":2048,\"ok\":null}\n");
	free(buf);
	mt_table_release(&t);
}

/* text for a terminal: controls, C1, bidi overrides and non-UTF-8 bytes escaped */
static void t_term(void)
{
	static const struct { const char *in, *want; } v[] = {
		{ "plain Été 日本", "plain Été 日本" },
		{ "\033]0;x\007", "\\x1B]0;x\\x07" },
		{ "a\tb\r\n", "a\\x09b\\x0D\\x0A" },
		{ "csi\xc2\x9b" "1m", "csi\\u009B1m" },
		{ "rlo\xe2\x80\xae" "exe", "rlo\\u202Eexe" },
		{ "bad\xff\xc3(", "bad\\xFF\\xC3(" },
		{ "overlong\xc0\xaf", "overlong\\xC0\\xAF" },
		{ "del\x7f", "del\\x7F" },
		{ "", "" },
	};
	for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
		char *got = mt_term_safe(v[i].in);
		CHECK_STR(got, v[i].want);
		free(got);
	}
	/* JSON: the same code points as \uXXXX, and U+FFFD for bytes that are not UTF-8 */
	char buf[128];
	mt_json_escape(buf, sizeof buf, "x\xc2\x9b" "y\xff" "z");
	CHECK_STR(buf, "\"x\\u009by\\ufffdz\"");
}

/* literals every match must contain: a superset pre-filter must never lose a match */
static void lits(const char *re, const char *want)
{
	char **v = NULL;
	int n = mt_regex_literals(re, &v);
	char got[512] = "";
	for (int i = 0; i < n; i++) {
		strcat(got, i ? "|" : "");
		strncat(got, v[i], sizeof got - strlen(got) - 2);
	}
	if (strcmp(got, want) != 0) {
		fprintf(stderr, "literals of /%s/: got '%s', want '%s'\n", re, got, want);
		failures++;
	}
	if (n > 0)
		mt_words_free(v);
}

static void t_literals(void)
{
	lits("(?i)invoice|facture", "invoice|facture");
	lits("invoice", "invoice");
	lits("^Re: invoice #[0-9]+$", "invoice");
	lits("colou?r scheme", "scheme");          /* the optional u breaks "colour" */
	lits("abc*def", "def");                    /* c* is optional: "ab" is too short */
	lits("abcd+ef", "abcd");                   /* d+ keeps one d, then the run ends */
	lits("x{0,3}yyyy", "yyyy");
	lits("(?i)(invoice|bill)", "");            /* a group is not read */
	lits("invoice|.*", "");                    /* a branch without a literal: no pre-filter */
	lits("in", "");                            /* too short */
	lits("(?x) invoice", "");                  /* extended mode: not read */
	lits("(?ix)#in voice", "");                /* x after another option (fuzz find) */
	lits("(?i)inv(?x) o ice", "");             /* x set part-way */
	lits("(?x:a b)invoice", "");
	lits("dev\\.lists\\.example\\.org", "dev.lists.example.org");
	lits("caf\\x{e9}", "");                    /* \x forms: give up */
	lits("[iI]nvoice", "nvoice");
	lits("Café meeting", "meeting");           /* non-ASCII and blanks end a run */
	lits("a\\|b|ccc", "");                     /* escaped bar: one branch "a|b" too short */
	lits("foo(bar|baz)qux", "foo");            /* qux is as long: the first longest run wins */
	lits("\\Qa.b\\E", "");
}

static void t_decode(void)
{
	char *s = mt_decode_header("=?UTF-8?B?RmFjdHVyZSBuwrAx?=", 28);
	CHECK_STR(s, "Facture n\u00b01");
	free(s);
	s = mt_decode_header("=?ISO-8859-1?Q?Rechnung_f=FCr?=\r\n =?ISO-8859-1?Q?_M=E4rz?=", 56);
	CHECK_STR(s, "Rechnung f\u00fcr M\u00e4rz");
	free(s);
	const char hdr[] = "Subject: first\r\n line\r\nX-A: 1\r\nsubject: second\r\n\r\nBody: no\r\n";
	s = mt_header_get(hdr, sizeof hdr - 1, "subject");
	CHECK_STR(s, "first line");
	free(s);
	s = mt_header_get(hdr, sizeof hdr - 1, "body");
	CHECK(s == NULL);
	/* an encoded line break (or other control) is a blank: one line in any output */
	s = mt_decode_header("=?utf-8?q?Hi=0D=0ABcc:_x=09y?=", 30);
	CHECK_STR(s, "Hi  Bcc: x y");
	free(s);
	/* a NUL in a B-encoded word, padded or not, is a blank too: the rest is read */
	static const struct { const char *raw, *want; } bnul[] = {
		{ "=?utf-8?b?eABjaGVhcCBwaWxscw==?=", "x cheap pills" },
		{ "=?UTF-8?B?AA?= =?utf-8?b?Y2hlYXAgcGlsbHM=?=", "cheap pills" },
		{ "pre =?utf-8?b?YQAAYg==?= post", "pre a  b post" },
	};
	for (size_t i = 0; i < sizeof bnul / sizeof *bnul; i++) {
		s = mt_decode_header(bnul[i].raw, strlen(bnul[i].raw));
		CHECK_STR(s, bnul[i].want);
		free(s);
	}
	/* no end, not base64: left to libetpan as they are (read safely) */
	static const char *const odd[] = { "=?utf-8?b?AA?", "=?utf-8?b?A*A=?=", "=?utf-8?b?\?=", "=?b?B?AA==?= =?" };
	for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
		s = mt_decode_header(odd[i], strlen(odd[i]));
		CHECK(s != NULL);
		free(s);
	}
	/* read as both servers' Sieve reads them (mailtool-rules(5), "At
	 * delivery time"): the quotes around an encoded word stay, no blank
	 * begins a value, a blank before the colon still names the field */
	static const struct { const char *raw, *want; } alike[] = {
		{ "\"=?utf-8?q?Caf=C3=A9?=\" <b@x>", "\"Caf\u00e9\" <b@x>" },
		{ "\"=?utf-8?q?a?=\" \"=?utf-8?q?b?=\"", "\"a\" \"b\"" },
		{ "\"Bob  \\\"X\\\"\" <b@x>", "\"Bob \\\"X\\\"\" <b@x>" },
		{ "\r\n [PATCH] x", "[PATCH] x" },
		{ "=?utf-8?q?=09_lead?=", "lead" },
	};
	for (size_t i = 0; i < sizeof alike / sizeof *alike; i++) {
		s = mt_decode_header(alike[i].raw, strlen(alike[i].raw));
		CHECK_STR(s, alike[i].want);
		free(s);
	}
	const char obs[] = "Subject : obsolete\r\n\r\n";
	s = mt_header_get(obs, sizeof obs - 1, "subject");
	CHECK_STR(s, "obsolete");
	free(s);
}

static void t_body(void)
{
	const char qp[] = "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n"
			  "\r\nCaf=E9 at n=\r\noon\r\n";
	char *s = mt_body_text(qp, sizeof qp - 1);
	CHECK(strstr(s, "Caf\u00e9 at noon") != NULL);
	free(s);
	const char mp[] = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
			  "--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
			  "UsOpdW5pb24gc2VjcsOodGU=\r\n"
			  "--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
			  "c2VjcmV0IGluIGF0dGFjaG1lbnQ=\r\n--XX--\r\n";
	s = mt_body_text(mp, sizeof mp - 1);
	CHECK(strstr(s, "R\u00e9union secr\u00e8te") != NULL);
	CHECK(strstr(s, "attachment") == NULL);    /* attachments are not text */
	free(s);
	/* a message cut in the middle (the body limit) still reads */
	s = mt_body_text(mp, 150);
	CHECK(s != NULL);
	free(s);
}

/* archive paths from server folder names never leave the export directory */
/* the initial client responses of OAUTHBEARER (RFC 7628 3.1: the user a
 * saslname, "," and "=" escaped) and XOAUTH2, base64 */
static void t_oauth(void)
{
	struct mt_account a = { .auth = MT_AUTH_OAUTHBEARER };
	char *b;
	CHECK_STR(b = mt_sasl_oauth(&a, "a,b=c", "h", 993, "T"),
		  "bixhPWE9MkNiPTNEYywBaG9zdD1oAXBvcnQ9OTkzAWF1dGg9QmVhcmVyIFQBAQ==");
	free(b);
	/* a tunnel: no host and port */
	CHECK_STR(b = mt_sasl_oauth(&a, "u", NULL, 0, "T"), "bixhPXUsAWF1dGg9QmVhcmVyIFQBAQ==");
	free(b);
	a.auth = MT_AUTH_XOAUTH2;
	CHECK_STR(b = mt_sasl_oauth(&a, "u", "h", 993, "T"), "dXNlcj11AWF1dGg9QmVhcmVyIFQBAQ==");
	free(b);
	CHECK_STR(mt_auth_oauth_mech(&a), "XOAUTH2");
	/* --as: the token and the login are the user's own */
	a.user = "admin";
	a.as_user = "bob";
	CHECK_STR(mt_auth_oauth_user(&a), "bob");
}

static void t_safepath(void)
{
	char *p;
	CHECK_STR(p = mt_lm_safe_path("Lists/dev", '/', 0), "Lists/dev"); free(p);
	CHECK_STR(p = mt_lm_safe_path("../../etc/passwd", '/', 0), "%2E%2E/%2E%2E/etc/passwd"); free(p);
	CHECK_STR(p = mt_lm_safe_path("/abs//x/.", '/', 0), "%00/abs/%00/x/%2E"); free(p);
	CHECK_STR(p = mt_lm_safe_path("a.b/c", '.', 0), "a/b%2Fc"); free(p);
	CHECK_STR(p = mt_lm_safe_path("50%", '/', 0), "50%25"); free(p);
	CHECK_STR(p = mt_lm_safe_path("..", 0, 0), "%2E%2E"); free(p);
	/* every '/' an empty component: 4 bytes out for 1 in (it overflowed 3n+8) */
	char slashes[201];
	memset(slashes, '/', 200);
	slashes[200] = '\0';
	p = mt_lm_safe_path(slashes, '/', 0);
	CHECK(p != NULL && strlen(p) == 201 * 3 + 200);
	CHECK(p != NULL && strncmp(p, "%00/%00/", 8) == 0);
	free(p);
	/* names a Maildir keeps for itself, as child folders in a Maildir tree */
	CHECK_STR(p = mt_lm_safe_path("Lists/cur", '/', 1), "Lists/%63ur"); free(p);
	CHECK_STR(p = mt_lm_safe_path("tmp/new/x", '/', 1), "%74mp/%6Eew/x"); free(p);
	CHECK_STR(p = mt_lm_safe_path("A/dovecot-keywords", '/', 1), "A/%64ovecot-keywords"); free(p);
	CHECK_STR(p = mt_lm_safe_path("Lists/cur", '/', 0), "Lists/cur"); free(p);
	CHECK_STR(p = mt_lm_safe_path("curl/x.part", '/', 1), "curl/x.part"); free(p);
	/* no folder maps to a temporary name (NAME%tmp.XXXXXX) */
	CHECK_STR(p = mt_lm_safe_path("Proj%tmp.abcdef", '/', 1), "Proj%25tmp.abcdef"); free(p);
	CHECK(mt_lm_format_of("x.mbox") == MT_LM_MBOX);
	CHECK(mt_lm_format_of("x.mbox.gz") == MT_LM_MBOXGZ);
	CHECK(mt_lm_format_of("x") == MT_LM_MAILDIR);
	CHECK(mt_lm_format_named("x") == MT_LM_MAILDIR);
	CHECK(mt_lm_format_named("/a.b/x") == MT_LM_MAILDIR);
	CHECK(mt_lm_format_named("x.d") == MT_LM_MAILDIR);
	CHECK(mt_lm_format_named("x.Maildir") == MT_LM_MAILDIR);
	CHECK(mt_lm_format_named("x.zip/") == MT_LM_MAILDIR);
	CHECK(mt_lm_format_named(".hidden") == MT_LM_MAILDIR);
	CHECK(mt_lm_format_named("backup.2024-12") == MT_LM_MAILDIR);
	CHECK(mt_lm_format_named("x.mbox") == MT_LM_MBOX);
	CHECK(mt_lm_format_named("dir.d/x.mbox.gz") == MT_LM_MBOXGZ);
	CHECK(mt_lm_format_named("x.zip") == -1);
	CHECK(mt_lm_format_named("x.tar.gz") == -1);
	CHECK(mt_lm_format_named("x.gz") == -1);
	CHECK(mt_lm_format_named("x.mbx") == -1);
	CHECK(mt_lm_keyword_ok("$Label1") && !mt_lm_keyword_ok("a b") && !mt_lm_keyword_ok("") &&
	      !mt_lm_keyword_ok("\\Seen") && !mt_lm_keyword_ok("x)") && !mt_lm_keyword_ok("\xc3\xa9"));
}

/* one server text through a fresh guard, fed in pieces of `step` bytes */
static int guard_ok(const char *text, size_t step)
{
	struct mt_numguard g;
	size_t n = strlen(text);
	mt_numguard_init(&g);
	for (size_t i = 0; i < n; i += step)
		if (mt_numguard_feed(&g, text + i, n - i < step ? n - i : step) < 0)
			return 0;
	return 1;
}

static void t_numguard(void)
{
	static const char *const good[] = {
		"* OK [CAPABILITY IMAP4rev1 LITERAL+ COMPRESS=DEFLATE] Dovecot ready.\r\n",
		"* OK [UIDVALIDITY 4294967295] UIDs valid\r\n* OK [HIGHESTMODSEQ 9223372036854775807] Highest\r\n",
		"* SEARCH 1 2 4294967295 (MODSEQ 12345678901234)\r\nA1 OK Search completed (0.001 + 0.000 secs).\r\n",
		"* 3 FETCH (UID 17 RFC822.SIZE 4000 FLAGS (\\Seen $Label-1 $Junk-2024) MODSEQ (98765432109876) "
		"INTERNALDATE \"17-Jul-1996 02:44:25 -0700\")\r\n",
		/* a literal's bytes are message text, whatever they look like */
		"* 4 FETCH (UID 18 BODY[] {38}\r\n* SEARCH 99999999999 -1\r\nSubject: x\r\n)\r\n",
		"* STATUS \"99999999999\" (MESSAGES 5 UIDNEXT 6 SIZE 9999999999999)\r\n",
		"* STATUS 99999999999 (MESSAGES 5)\r\n",
		"* LIST (\\HasNoChildren) \"/\" 12345678901234\r\n",
		"* QUOTA \"User quota\" (STORAGE 325 51200)\r\n",
		"* VANISHED (EARLIER) 300:310,405,411\r\n* ESEARCH (TAG \"A5\") UID MIN 7 MAX 3800 ALL 7:3800\r\n",
		"A2 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n",
		"* SORT 5 3 4294967295 1\r\n",
		"A3 NO [OVERQUOTA] Quota exceeded [5000000000 bytes, -3 left\r\n",
		"* BYE server shutting down in 99999999999 seconds\r\n",
		NULL
	};
	static const char *const bad[] = {
		"* SEARCH 4294967297\r\n",
		"* SEARCH 2 -1\r\n",
		"* SORT 7 4294967297 2\r\n",
		"* SORT 7 -2\r\n",
		"* SEARCH 1 (MODSEQ 99999999999999999999)\r\n",
		"* 2 FETCH (UID 4294967298 RFC822.SIZE 5000)\r\n",
		"* 1 FETCH (UID 1 RFC822.SIZE -5)\r\n",
		"* 4294967296 FETCH (UID 1)\r\n",
		"* 4294967296 EXISTS\r\n",
		"* STATUS INBOX (MESSAGES 4294967296)\r\n",
		"* QUOTA \"x\" (STORAGE 4294967296 10)\r\n",
		"* OK [UIDNEXT 4294967296] Predicted next UID\r\n",
		"A1 OK [COPYUID 1 2:3 4294967296:4294967297] Done\r\n",
		"* VANISHED 1:99999999999\r\n",
		"* 1 FETCH (BODY[] {4294967296}\r\n",
		"* OK [PERMANENTFLAGS (\\Seen \\Deleted] ok\r\n",
		"* OK [PERMANENTFLAGS \\Seen)] ok\r\n",
		"* OK [PERMANENTFLAGS (\\Seen \\Del\"eted)] ok\r\n",
		NULL
	};
	for (const char *const *t = good; *t; t++) {
		int ok1 = guard_ok(*t, 1 << 20), ok2 = guard_ok(*t, 1);
		if (!ok1 || !ok2)
			fprintf(stderr, "refused: %s", *t);
		CHECK(ok1 && ok2);
	}
	for (const char *const *t = bad; *t; t++) {
		int ok1 = guard_ok(*t, 1 << 20), ok2 = guard_ok(*t, 3);
		if (ok1 || ok2)
			fprintf(stderr, "accepted: %s", *t);
		CHECK(!ok1 && !ok2);
	}
	/* the message names what was wrong */
	struct mt_numguard g;
	mt_numguard_init(&g);
	CHECK(mt_numguard_feed(&g, "* SEARCH 5 4294967297\r\n", 23) < 0);
	CHECK(strstr(g.err, "'4294967297'") != NULL && strstr(g.err, "SEARCH") != NULL);
	/* a line without end is cut off at MT_NUMGUARD_MAX_LINE, with no memory of its own */
	static char chunk[1 << 16];
	memset(chunk, 'x', sizeof chunk);
	mt_numguard_init(&g);
	int r = mt_numguard_feed(&g, "* LIST () \"/\" ", 15);
	for (size_t sent = 0; r == 0 && sent <= MT_NUMGUARD_MAX_LINE; sent += sizeof chunk)
		r = mt_numguard_feed(&g, chunk, sizeof chunk);
	CHECK(r < 0 && strstr(g.err, "line") != NULL);
}

/* ---- the one compiler and matcher, on canned data (no server) ------------ */

static struct mt_cond *re_cond(enum mt_cond_kind k, const char *hdr, const char *pat, const struct mt_re_limits *lim)
{
	char why[256];
	struct mt_cond *c = mt_cond_regex(k, hdr, pat, lim, why, sizeof why);
	if (c == NULL) {
		fprintf(stderr, "/%s/ refused: %s\n", pat, why);
		failures++;
		exit(1);
	}
	return c;
}

static struct mt_cond *all2(struct mt_cond *a, struct mt_cond *b)
{
	struct mt_cond *c = mt_cond_new(MT_C_ALL);
	mt_cond_add(c, a);
	mt_cond_add(c, b);
	return c;
}

static struct mt_cond *any2(struct mt_cond *a, struct mt_cond *b)
{
	struct mt_cond *c = mt_cond_new(MT_C_ANY);
	mt_cond_add(c, a);
	mt_cond_add(c, b);
	return c;
}

static struct mt_cond *not1(struct mt_cond *a)
{
	struct mt_cond *c = mt_cond_new(MT_C_NOT);
	mt_cond_add(c, a);
	return c;
}

/* compile c (freed here): the SEARCH, whether it is exact, and what is fetched */
static void compiles(struct mt_cond *c, int within, const char *search, int exact, const char *needs)
{
	struct mt_query q;
	time_t now = 1700000000;   /* 2023-11-14 22:13:20 UTC */
	mt_query_compile(c, within, now, &q);
	CHECK_STR(q.search, search);
	if (q.exact != exact) {
		fprintf(stderr, "SEARCH %s: exact %d, want %d\n", q.search, q.exact, exact);
		failures++;
	}
	char got[256] = "";
	if (q.needs.size) strcat(got, "size ");
	if (q.needs.date) strcat(got, "date ");
	if (q.needs.flags) strcat(got, "flags ");
	if (q.needs.all_headers) strcat(got, "headers ");
	if (q.needs.body) strcat(got, "body ");
	for (size_t i = 0; i < q.needs.nhdrs; i++) {
		strncat(got, q.needs.hdrs[i], sizeof got - strlen(got) - 2);
		strcat(got, " ");
	}
	CHECK_STR(got, needs);
	mt_query_release(&q);
	mt_cond_free(c);
}

/* the search without text keys that mt_uid_search_text looks through */
static void loose(struct mt_cond *c, const char *search, const char *want)
{
	struct mt_query q;
	mt_query_compile(c, 1, 1700000000, &q);
	CHECK_STR(q.search, search);
	CHECK_STR(q.loose ? q.loose : "(none)", want);
	mt_query_release(&q);
	mt_cond_free(c);
}

static void t_query(void)
{
	/* text keys are only a superset where the server reads the text as the
	 * rule does: the same search without them is made too */
	loose(re_cond(MT_C_HEADER, "subject", "invoice", NULL), "SUBJECT \"invoice\"", "ALL");
	loose(all2(mt_cond_size(MT_C_LARGER, 7), re_cond(MT_C_BODY, NULL, "invoice", NULL)),
	      "(LARGER 7) (BODY \"invoice\")", "(LARGER 7)");
	loose(any2(mt_cond_size(MT_C_LARGER, 7), re_cond(MT_C_HEADER, "from", "billing", NULL)),
	      "OR (LARGER 7) (HEADER from \"billing\")", "ALL");
	/* no text key, nothing more to look through */
	loose(mt_cond_size(MT_C_LARGER, 7), "LARGER 7", "(none)");
	loose(re_cond(MT_C_HEADER, "subject", "^.{3}$", NULL), "ALL", "(none)");
	loose(not1(re_cond(MT_C_BODY, NULL, "invoice", NULL)), "ALL", "(none)");

	/* what the server decides exactly fetches nothing */
	compiles(mt_cond_size(MT_C_LARGER, 1000), 1, "LARGER 1000", 1, "");
	compiles(all2(mt_cond_size(MT_C_SMALLER, 5), mt_cond_flag(MT_F_FLAGGED, NULL, 0)), 0,
		 "(SMALLER 5) (UNFLAGGED)", 1, "");
	compiles(mt_cond_flag(0, "$Junk", 1), 0, "KEYWORD $Junk", 1, "");
	compiles(mt_cond_age(MT_C_OLDER, 30 * 86400, 0), 1, "OLDER 2592000", 1, "");
	compiles(mt_cond_before(1700006400 - 86400 * 3, 0), 0, "BEFORE 12-Nov-2023", 1, "");
	compiles(not1(mt_cond_size(MT_C_LARGER, 7)), 1, "NOT (LARGER 7)", 1, "");
	compiles(any2(mt_cond_size(MT_C_LARGER, 7), mt_cond_flag(MT_F_SEEN, NULL, 1)), 1, "OR (LARGER 7) (SEEN)", 1, "");
	/* without WITHIN an age is a day-wide superset (two days for the zone), checked here */
	compiles(mt_cond_age(MT_C_OLDER, 30 * 86400, 0), 0, "BEFORE 17-Oct-2023", 0, "date ");
	compiles(mt_cond_age(MT_C_NEWER, 86400, 0), 0, "SINCE 12-Nov-2023", 0, "date ");
	/* by the Date field: SENTBEFORE reads it in its own zone, a day later is the superset */
	compiles(mt_cond_before(1700006400 - 86400 * 3, 1), 1, "SENTBEFORE 13-Nov-2023", 0, "Date ");
	/* a regex: its literals narrow, the check reads the field */
	compiles(re_cond(MT_C_HEADER, "subject", "(?i)invoice|facture", NULL), 1,
		 "OR (SUBJECT \"invoice\") (SUBJECT \"facture\")", 0, "subject ");
	compiles(re_cond(MT_C_HEADER, "list-id", "dev\\.lists", NULL), 1, "HEADER list-id \"dev.lists\"", 0, "list-id ");
	compiles(re_cond(MT_C_BODY, NULL, "secret plan", NULL), 1, "BODY \"secret\"", 0, "body ");   /* a blank ends a run */
	/* no literal: nothing narrows; one such branch widens a whole OR */
	compiles(re_cond(MT_C_HEADER, "subject", "^.{3}[0-9]+$", NULL), 1, "ALL", 0, "subject ");
	compiles(any2(mt_cond_size(MT_C_LARGER, 7), re_cond(MT_C_HEADER, "from", "^a.$", NULL)), 1, "ALL", 0,
		 "size from ");
	/* NOT of a superset is not a superset of NOT: the server is not asked */
	compiles(not1(re_cond(MT_C_HEADER, "subject", "invoice", NULL)), 1, "ALL", 0, "subject ");
	/* an AND keeps what is exact beside the superset */
	compiles(all2(mt_cond_size(MT_C_LARGER, 7), re_cond(MT_C_HEADER, "subject", "invoice", NULL)), 1,
		 "(LARGER 7) (SUBJECT \"invoice\")", 0, "size subject ");
	/* a quote or backslash ends a literal: nothing needs quoting in SEARCH */
	compiles(re_cond(MT_C_HEADER, "subject", "say \"hello\" now", NULL), 1, "SUBJECT \"hello\"", 0, "subject ");
	compiles(re_cond(MT_C_HEADER, "subject", "ab\\\\cdef", NULL), 1, "SUBJECT \"cdef\"", 0, "subject ");
}

static int decide(const struct mt_cond *c, const struct mt_fetched *m, time_t now)
{
	const char *why = NULL;
	int r = mt_cond_match(c, m, now, &why);
	if (r < 0 && (why == NULL || *why == '\0')) {
		fprintf(stderr, "undecided without a reason\n");
		failures++;
	}
	return r;
}

static void t_match(void)
{
	static const char hdr[] = "From: =?ISO-8859-1?Q?Ren=E9?= <r@example.org>\r\n"
				  "Subject: =?UTF-8?B?RmFjdHVyZSBuwrAx?=\r\n"
				  "Date: Mon, 13 Nov 2023 10:00:00 +0100\r\n"
				  "X-Spam-Flag: YES\r\n\r\n";
	static const char body[] = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
				   "UsOpdW5pb24gc2VjcsOodGU=\r\n";
	const char *kw[] = { "$Junk", NULL };
	time_t now = 1700000000;
	struct mt_fetched m = { .uid = 7, .size = 4096, .internaldate = now - 10 * 86400, .sysflags = MT_F_SEEN,
				.keywords = kw, .header = hdr, .header_len = sizeof hdr - 1, .body = body,
				.body_len = sizeof body - 1 };
	struct mt_cond *c;
#define DECIDES(cond, want) do { c = (cond); int got_ = decide(c, &m, now); \
	if (got_ != (want)) { fprintf(stderr, "%s:%d: decided %d, want %d\n", __FILE__, __LINE__, got_, (want)); failures++; } \
	mt_cond_free(c); } while (0)
	/* decoded headers, Unicode-aware */
	DECIDES(re_cond(MT_C_HEADER, "subject", "^Facture n°1$", NULL), 1);
	DECIDES(re_cond(MT_C_HEADER, "subject", "(?i)^FACTURE N°1$", NULL), 1);
	DECIDES(re_cond(MT_C_HEADER, "from", "^René ", NULL), 1);
	DECIDES(re_cond(MT_C_HEADER, "from", "^\\w{4} ", NULL), 1);     /* é is a word character (UCP) */
	DECIDES(re_cond(MT_C_HEADER, "x-spam-flag", "^YES$", NULL), 1);
	DECIDES(re_cond(MT_C_HEADER, "reply-to", ".*", NULL), 0);      /* no such field: no match */
	DECIDES(re_cond(MT_C_ANYHEADER, NULL, "^X-Spam-Flag: YES$", NULL), 1);
	DECIDES(re_cond(MT_C_BODY, NULL, "Réunion secrète", NULL), 1);
	DECIDES(re_cond(MT_C_BODY, NULL, "UsOp", NULL), 0);             /* decoded, not raw base64 */
	/* sizes, ages, days, flags */
	DECIDES(mt_cond_size(MT_C_LARGER, 4095), 1);
	DECIDES(mt_cond_size(MT_C_LARGER, 4096), 0);
	DECIDES(mt_cond_size(MT_C_SMALLER, 4097), 1);
	DECIDES(mt_cond_age(MT_C_OLDER, 9 * 86400, 0), 1);
	DECIDES(mt_cond_age(MT_C_OLDER, 11 * 86400, 0), 0);
	DECIDES(mt_cond_age(MT_C_NEWER, 11 * 86400, 0), 1);
	/* by the Date field: 13 Nov 2023 09:00 UTC is a day and 13 hours before now */
	DECIDES(mt_cond_age(MT_C_OLDER, 86400, 1), 1);
	DECIDES(mt_cond_age(MT_C_OLDER, 2 * 86400, 1), 0);
	DECIDES(mt_cond_before(1699833600 + 86400, 1), 1);   /* before 14 Nov 00:00 UTC */
	DECIDES(mt_cond_before(1699833600, 1), 0);           /* not before 13 Nov 00:00 UTC */
	DECIDES(mt_cond_flag(MT_F_SEEN, NULL, 1), 1);
	DECIDES(mt_cond_flag(MT_F_FLAGGED, NULL, 1), 0);
	DECIDES(mt_cond_flag(0, "$junk", 1), 1);             /* keywords compare case-insensitively */
	DECIDES(mt_cond_flag(0, "$Label1", 0), 1);
	/* trees */
	DECIDES(all2(mt_cond_size(MT_C_LARGER, 1), re_cond(MT_C_HEADER, "subject", "Facture", NULL)), 1);
	DECIDES(all2(mt_cond_size(MT_C_LARGER, 1 << 20), re_cond(MT_C_HEADER, "subject", "Facture", NULL)), 0);
	DECIDES(any2(mt_cond_size(MT_C_LARGER, 1 << 20), re_cond(MT_C_HEADER, "subject", "Facture", NULL)), 1);
	DECIDES(not1(re_cond(MT_C_HEADER, "subject", "Facture", NULL)), 0);
	/* a regex PCRE2 cannot decide under its limits is undecided, never "no",
	 * through NOT too; an OR already true, or an AND already false, is decided */
	static const char evil_hdr[] = "Subject: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\r\n\r\n";
	struct mt_fetched e = { .uid = 8, .size = 10, .header = evil_hdr, .header_len = sizeof evil_hdr - 1 };
	struct mt_re_limits lim = { 1000, 1000, 1024 };
	const char *why = NULL;
	c = re_cond(MT_C_HEADER, "subject", "^(a|aa)+$", &lim);
	CHECK(mt_cond_match(c, &e, now, &why) == -1 && why && strstr(why, "limit"));
	mt_cond_free(c);
	c = not1(re_cond(MT_C_HEADER, "subject", "^(a|aa)+$", &lim));
	CHECK(mt_cond_match(c, &e, now, &why) == -1);
	mt_cond_free(c);
	c = any2(mt_cond_size(MT_C_SMALLER, 100), re_cond(MT_C_HEADER, "subject", "^(a|aa)+$", &lim));
	CHECK(mt_cond_match(c, &e, now, &why) == 1);
	mt_cond_free(c);
	c = all2(mt_cond_size(MT_C_LARGER, 100), re_cond(MT_C_HEADER, "subject", "^(a|aa)+$", &lim));
	CHECK(mt_cond_match(c, &e, now, &why) == 0);
	mt_cond_free(c);
	c = all2(mt_cond_size(MT_C_SMALLER, 100), re_cond(MT_C_HEADER, "subject", "^(a|aa)+$", &lim));
	CHECK(mt_cond_match(c, &e, now, &why) == -1);
	mt_cond_free(c);
#undef DECIDES
}

/* The literal pre-filter is sound: whatever a regex matches contains one of
 * its literals, compared as IMAP SEARCH compares (ASCII case-insensitively),
 * over many subjects built from the literals' pieces, other letters, case
 * changes and non-ASCII text (a fixed pseudo-random sequence). */
static void t_prefilter(void)
{
	static const char *const res[] = {
		"(?i)invoice|facture", "invoice", "^Re: invoice #[0-9]+$", "colou?r scheme", "abc*def", "abcd+ef",
		"x{0,3}yyyy", "[iI]nvoice", "Café meeting", "foo(bar|baz)qux", "dev\\.lists\\.example\\.org",
		"(?i)rechnung f(ü|ue)r", "a\\|b|ccc", "^\\[ops\\] .*deploy", "(?i)urgent!!+", "x*yyy?zzzz", NULL,
	};
	static const char *const pieces[] = {
		"invoice", "INVOICE", "Invoice", "fact", "facture", "FACTURE", "Re: ", "#", "12", "colo", "colour",
		"color", "u", "r", " ", "scheme", "SCHEME", "ab", "abc", "c", "def", "abcd", "dd", "ef", "x", "xx",
		"yyyy", "yyy", "i", "I", "nvoice", "Café", "cafe", " meeting", "meeting", "foo", "bar", "baz", "qux",
		"dev.lists.example.org", "dev", ".", "lists", "rechnung f", "ür", "uer", "RECHNUNG F", "a|b", "ccc",
		"[ops] ", "deploy", "urgent!", "!", "URGENT", "zzzz", "zz", "é", "ß", "日本", "\t", "y",
		/* whole matches, so that every expression matches often */
		"color scheme", "abdef", "abcddef", "Re: invoice #7", "foobarqux", "Rechnung fuer", "urgent!!", "yyyzzzz",
		"xxyyyy", "ccc", "[ops] x deploy",
	};
	const size_t npieces = sizeof pieces / sizeof *pieces;
	uint32_t seed = 12345;
	size_t checked = 0, matched = 0;
	for (const char *const *re = res; *re; re++) {
		char why[256];
		struct mt_re *x = mt_re_compile(*re, NULL, why, sizeof why);
		CHECK(x != NULL);
		if (x == NULL)
			continue;
		char **lits = NULL;
		int n = mt_regex_literals(*re, &lits);
		for (int round = 0; round < 4000; round++) {
			char subj[256] = "";
			int k = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 6;
			for (int j = 0; j < k; j++) {
				seed = seed * 1103515245u + 12345u;
				strncat(subj, pieces[(seed >> 16) % npieces], sizeof subj - strlen(subj) - 1);
			}
			const char *w = NULL;
			int r = mt_re_match(x, subj, strlen(subj), &w);
			CHECK(r >= 0);
			checked++;
			if (r != 1 || n <= 0)
				continue;
			matched++;
			int found = 0;
			for (int i = 0; i < n && !found; i++)
				found = strcasestr(subj, lits[i]) != NULL;
			if (!found) {
				fprintf(stderr, "/%s/ matches '%s', which holds none of its literals\n", *re, subj);
				failures++;
			}
		}
		if (n > 0)
			mt_words_free(lits);
		mt_re_free(x);
	}
	/* the sequence must reach matches, or it proves nothing */
	CHECK(checked > 0 && matched > 200);
}

/* ---- Sieve: one rule file compiled for delivery time (filters/sieve.c) ---- */

/* Load rules from text (through a file: the loader reads files); MT_OK or the load error. */
static int sv_load(const char *text, struct mt_ruleset *rs, struct mt_err *e)
{
	char path[] = "/tmp/mt-unit-sieve-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return mt_seterr(e, MT_EIO, "mkstemp");
	FILE *f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	int r = mt_rules_load(path, rs, e);
	unlink(path);
	return r;
}

/* One rule (match clause and the rest) compiled: the script from the rule's
 * "if", or the refusal; exactly one of want_block and want_why is given. */
static void sv_one(int line, const char *match, const char *rest, const char *want_block, const char *want_why)
{
	char *text = mt_xasprintf("rules = ( { name = \"r\"; match = { %s }; %s } );\n", match, rest);
	struct mt_ruleset rs;
	struct mt_err e = { 0 };
	struct mt_sieve_target t = { .trash = "Trash" };
	struct mt_sieve_out out;
	if (sv_load(text, &rs, &e) != MT_OK) {
		fprintf(stderr, "line %d: rules not loaded: %s\n", line, e.msg);
		failures++;
		free(text);
		return;
	}
	int r = mt_sieve_compile(&rs, &t, &out, &e);
	const char *block = out.script ? strstr(out.script, "\nif ") : NULL;
	if (want_block && (r != MT_OK || block == NULL || strcmp(block + 1, want_block) != 0)) {
		fprintf(stderr, "line %d: got\n%s\nwant\n%s\n(%s)\n", line, block ? block + 1 : "(none)", want_block,
			out.nrefused ? out.refused[0].why : e.msg);
		failures++;
	}
	if (want_why && (r != MT_EDATA || out.script || out.nrefused != 1 || strstr(out.refused[0].why, want_why) == NULL)) {
		fprintf(stderr, "line %d: refusal '%s', want '%s'\n", line, out.nrefused ? out.refused[0].why : "(none)", want_why);
		failures++;
	}
	mt_sieve_out_release(&out);
	mt_rules_release(&rs);
	free(text);
}

#define SV_OK(match, rest, block) sv_one(__LINE__, match, rest, block, NULL)
#define SV_NO(match, rest, why) sv_one(__LINE__, match, rest, NULL, why)

static void t_sieve(void)
{
	/* conditions */
	SV_OK("subject = \"invoice\";", "move = \"Bills\";",
	      "if header :contains :comparator \"i;octet\" \"subject\" \"invoice\" {\n    fileinto \"Bills\";\n    stop;\n}\n");
	SV_OK("subject = \"(?i)invoice\";", "move = \"Bills\";",
	      "if header :contains :comparator \"i;ascii-casemap\" \"subject\" \"invoice\" {\n    fileinto \"Bills\";\n    stop;\n}\n");
	SV_OK("subject = \"^\\\\[[a-f0-9]+\\\\](ab|cd)*x{2,3}y{2,}z?\";", "stop = true;",
	      "if header :regex :comparator \"i;octet\" \"subject\" \"^[[:cntrl:] ]*\\\\[[0-9a-f]+](ab|cd)*x{2,3}y{2,}z?\" {\n    stop;\n}\n");
	SV_OK("from = \"@example\\\\.(com|org)\";", "flag = \"\\\\Flagged\";",
	      "if header :regex :comparator \"i;octet\" \"from\" \"@example\\\\.(com|org)\" {\n    addflag [\"\\\\Flagged\"];\n    stop;\n}\n");
	SV_OK("from = \"a.*b.*?c\";", "flag = [ \"$A\", \"\\\\Seen\" ]; unflag = \"$B\"; continue = true;",
	      "if header :regex :comparator \"i;octet\" \"from\" \"a.*b.*c\" {\n    addflag [\"$A\", \"\\\\Seen\"];\n"
	      "    removeflag [\"$B\"];\n}\n");
	SV_OK("subject = \"(?:ab)+?c\";", "stop = true;",
	      "if header :regex :comparator \"i;octet\" \"subject\" \"(ab)+c\" {\n    stop;\n}\n");
	SV_OK("subject = \"[]x-]y[-^]z[[a]\";", "stop = true;",
	      "if header :regex :comparator \"i;octet\" \"subject\" \"[]x-]y[-^]z[a[]\" {\n    stop;\n}\n");
	SV_OK("header = { name = \"X-Spam-Flag\"; regex = \"YES\"; };", "expunge = true;",
	      "if header :contains :comparator \"i;octet\" \"x-spam-flag\" \"YES\" {\n    discard;\n    stop;\n}\n");
	SV_OK("larger = \"10M\"; smaller = 20000000;", "trash = true;",
	      "if allof(size :over 10485760, size :under 20000000) {\n    fileinto \"Trash\";\n    stop;\n}\n");
	SV_OK("any = ( { to = \"a@b\"; }, { not = { cc = \"c@d\"; }; } );", "copy = \"C\"; create = true; continue = true;",
	      "if anyof(header :contains :comparator \"i;octet\" \"to\" \"a@b\", not header :contains :comparator \"i;octet\" "
	      "\"cc\" \"c@d\") {\n    fileinto :copy :create \"C\";\n}\n");
	SV_OK("subject = \"x\";", "folders = [ \"Sent\", \"inbox\" ]; copy = \"Caf\xc3\xa9 \\\"q\\\" \\\\ x\";",
	      "if header :contains :comparator \"i;octet\" \"subject\" \"x\" {\n    fileinto :copy \"Caf\xc3\xa9 \\\"q\\\" \\\\ x\";\n"
	      "    stop;\n}\n");
	SV_OK("subject = \"x\";", "folder = \"I*\"; stop = true;",
	      "if header :contains :comparator \"i;octet\" \"subject\" \"x\" {\n    stop;\n}\n");
	/* what means nothing at delivery */
	SV_NO("seen = true;", "stop = true;", "seen: stored flags mean nothing at delivery");
	SV_NO("deleted = false;", "stop = true;", "deleted: stored flags");
	SV_NO("keyword = \"$X\";", "stop = true;", "keyword: stored flags");
	SV_NO("older = \"30d\";", "stop = true;", "older: an age means nothing at delivery");
	SV_NO("newer = \"30d\";", "stop = true;", "newer: an age");
	SV_NO("subject = \"x\"; any = ( { flagged = true; } );", "stop = true;", "flagged: stored flags");
	SV_NO("subject = \"x\";", "folder = \"Sent\"; stop = true;", "folders: mail arrives in INBOX at delivery, and this rule reads only Sent");
	SV_NO("body = \"x\";", "stop = true;", "body: filter searches the decoded text parts within the first body_limit");
	SV_NO("any-header = \"x\";", "stop = true;", "any-header: Sieve has no test over every header field");
	/* regular expressions without an exact POSIX twin */
	SV_NO("subject = \"\\\\d+\";", "stop = true;", "'\\d' at offset 0: under PCRE2_UCP a class of every Unicode decimal digit");
	SV_NO("subject = \"\\\\w\";", "stop = true;", "'\\w' at offset 0: under PCRE2_UCP a class of Unicode letters");
	SV_NO("subject = \"a\\\\sb\";", "stop = true;", "'\\s' at offset 1: a class of blanks");
	SV_NO("subject = \"\\\\bx\";", "stop = true;", "'\\b' at offset 0: a word boundary");
	SV_NO("subject = \"(a)\\\\1\";", "stop = true;", "'\\1' at offset 3: a backreference");
	SV_NO("subject = \"a(?=b)\";", "stop = true;", "'(?=' at offset 1: a lookahead");
	SV_NO("subject = \"a(?<!b)\";", "stop = true;", "a lookbehind");
	SV_NO("subject = \"a++b\";", "stop = true;", "a possessive repeat");
	SV_NO("subject = \"a b\";", "stop = true;", "' ' at offset 1: a blank: filter merges");
	SV_NO("subject = \"[a b]\";", "stop = true;", "a blank");
	SV_NO("subject = \"[^a]\";", "stop = true;", "a negated class");
	SV_NO("subject = \"[[:digit:]]\";", "stop = true;", "a POSIX class");
	SV_NO("subject = \"a.b\";", "stop = true;", "'.' at offset 1: '.' other than '.*'");
	SV_NO("subject = \"a.+\";", "stop = true;", "'.' other than '.*'");
	SV_NO("subject = \"ab$\";", "stop = true;", "'$' at offset 2: filter keeps a blank that ends a header value");
	SV_NO("subject = \"caf\xc3\xa9\";", "stop = true;", "filter reads 8-bit bytes of a header as ISO-8859-1");
	SV_NO("subject = \"(?i)unsub\";", "stop = true;", "'s' at offset 6: (?i) with k or s");
	SV_NO("subject = \"(?i)[a-z]\";", "stop = true;", "(?i) with k or s");
	SV_NO("subject = \"a(?i)b\";", "stop = true;", "an inline option");
	SV_NO("subject = \"(?s)a\";", "stop = true;", "an inline option");
	SV_NO("subject = \"a\\\\?\";", "stop = true;", "filter matches bytes that are not UTF-8 as '?'");
	SV_NO("subject = \"a\\tb\";", "stop = true;", "a control character");
	SV_NO("subject = \"a{,3}\";", "stop = true;", "'{' that is not a repeat count");
	SV_NO("subject = \"a{300}\";", "stop = true;", "a repeat count above 255");
	SV_NO("subject = \"a|\";", "stop = true;", "an empty alternative");
	SV_NO("subject = \"\\\\Qa\\\\E\";", "stop = true;", "quoting");
	/* actions whose effect Sieve would change */
	SV_NO("subject = \"x\";", "copy = \"INBOX\";", "copy into INBOX");
	SV_NO("subject = \"x\";", "move = \"tab\\there\";", "cannot be written as a Sieve string");

	/* several rules: the first that matches takes the message unless it
	 * continues; flags accumulate as filter's STOREs do */
	struct mt_ruleset rs;
	struct mt_err e = { 0 };
	struct mt_sieve_out out;
	struct mt_sieve_target t = { .trash = "Trash" };
	CHECK(sv_load("rules = (\n"
		      "{ name = \"a\"; match = { subject = \"x\"; }; flag = \"$A\"; copy = \"C\"; continue = true; },\n"
		      "{ name = \"b\"; match = { subject = \"y\"; }; copy = \"C\"; },\n"
		      "{ name = \"c\"; match = { seen = true; }; stop = true; },\n"
		      "{ name = \"d\\n# x\"; match = { subject = \"z\"; }; move = \"D\"; }\n);\n", &rs, &e) == MT_OK);
	CHECK(mt_sieve_compile(&rs, &t, &out, &e) == MT_EDATA);
	CHECK(out.script == NULL && out.nrefused == 2);
	CHECK(out.nrefused == 2 && out.refused[0].rule == &rs.v[1] && strstr(out.refused[0].why, "'C' again"));
	CHECK(out.nrefused == 2 && out.refused[1].rule == &rs.v[2]);
	CHECK(strstr(e.msg, "2 rules cannot be compiled") != NULL);
	mt_sieve_out_release(&out);
	t.skip_unsupported = 1;
	CHECK(mt_sieve_compile(&rs, &t, &out, &e) == MT_OK);
	CHECK(out.script && out.nrefused == 2);
	CHECK(out.requires && out.requires[0] && strcmp(out.requires[0], "copy") == 0 && out.requires[1] &&
	      strcmp(out.requires[1], "fileinto") == 0 && out.requires[2] && strcmp(out.requires[2], "imap4flags") == 0 &&
	      out.requires[3] == NULL);
	/* a name with a line break stays in its comment */
	CHECK(out.script && strstr(out.script, "# rule 'd?# x' (") != NULL && strstr(out.script, "\n# x") == NULL);
	CHECK(out.script && strstr(out.script, "require [\"copy\", \"fileinto\", \"imap4flags\"];\n") != NULL);
	CHECK(out.script && strstr(out.script, "# left out: rule 'b' (") != NULL);
	mt_sieve_out_release(&out);
	/* the server's SIEVE capability: a rule that needs what it lacks is
	 * refused by name, the rest compiled without it */
	static const char *const few[] = { "fileinto", "copy", NULL };
	t.extensions = few;
	CHECK(mt_sieve_compile(&rs, &t, &out, &e) == MT_OK && out.script != NULL && out.nrefused == 2);
	CHECK(out.nrefused == 2 && out.refused[0].rule == &rs.v[0] &&
	      strcmp(out.refused[0].why, "the server's Sieve has no 'imap4flags' extension (SIEVE capability)") == 0);
	CHECK(out.script && strstr(out.script, "require [\"copy\", \"fileinto\"];\n") && strstr(out.script, "fileinto :copy \"C\";"));
	mt_sieve_out_release(&out);
	t.skip_unsupported = 0;
	CHECK(mt_sieve_compile(&rs, &t, &out, &e) == MT_EDATA && out.script == NULL && out.nrefused == 2);
	mt_sieve_out_release(&out);
	t.skip_unsupported = 1;
	static const char *const all[] = { "fileinto", "copy", "imap4flags", "regex", NULL };
	t.extensions = all;
	CHECK(mt_sieve_compile(&rs, &t, &out, &e) == MT_OK && out.script != NULL);
	mt_sieve_out_release(&out);
	/* no Trash known: trash refused */
	mt_rules_release(&rs);
	CHECK(sv_load("rules = ( { name = \"t\"; match = { larger = 0; }; trash = true; } );\n", &rs, &e) == MT_OK);
	t = (struct mt_sieve_target){ 0 };
	CHECK(mt_sieve_compile(&rs, &t, &out, &e) == MT_EDATA && out.nrefused == 1 &&
	      strstr(out.refused[0].why, "no Trash folder") != NULL);
	mt_sieve_out_release(&out);
	t.no_trash = "the server names none";
	CHECK(mt_sieve_compile(&rs, &t, &out, &e) == MT_EDATA && out.nrefused == 1 &&
	      strcmp(out.refused[0].why, "trash: the server names none") == 0);
	mt_sieve_out_release(&out);
	t.trash = "Papierkorb";
	CHECK(mt_sieve_compile(&rs, &t, &out, &e) == MT_OK && out.script && strstr(out.script, "fileinto \"Papierkorb\";"));
	mt_sieve_out_release(&out);
	mt_rules_release(&rs);
}

/* A Sieve quoted string at p (after its '"'), unescaped (owned). */
static char *sv_unquote(const char *p)
{
	char *o = mt_xmalloc(strlen(p) + 1), *w = o;
	for (; *p && *p != '"'; p++) {
		if (*p == '\\' && p[1])
			p++;
		*w++ = *p;
	}
	*w = '\0';
	return o;
}

/* The translation against glibc's own POSIX matcher, as Pigeonhole runs it
 * (C locale, REG_EXTENDED, REG_ICASE under i;ascii-casemap): on subjects of
 * the characters both sides see alike, PCRE2 and the script decide alike. */
static void t_sieveregex(void)
{
	static const char *const pats[] = {
		"invoice", "(?i)invoice|facture", "^\\[PATCH.*[0-9]+/[0-9]+]", "a(b|c)*d", "x{2,3}y", "x{2,}", "(?:ab)+?c",
		"[]x-]y", "[-^]z", "[a[]b", "\\.\\*\\+\\(\\)\\{\\|\\^\\$\\\\", "^a|b", "(a|^b)c", "[A-Fa-f0-9]{4}", "(?i)[a-c]+X",
		"a.*b.*c", "^.*z", "(a(b(c)?)+)*d", "q+r?", "@example\\.(com|org)>", "}]", "[.]", "_-<>=!%&~`',;:#/",
	};
	const char alpha[] = "abcdxyzqrABCDXYZ019./[]()-^$\\*+{}|_@<>PATCHic";
	uint32_t seed = 7;
	int checked = 0, matched = 0;
	setlocale(LC_ALL, "C");
	for (size_t i = 0; i < sizeof pats / sizeof *pats; i++) {
		struct mt_ruleset rs;
		struct mt_err e = { 0 };
		struct mt_sieve_out out;
		struct mt_sieve_target t = { .trash = "Trash" };
		/* the pattern as a libconfig string */
		struct { char *s; } q = { mt_xstrdup("") };
		for (const char *c = pats[i]; *c; c++) {
			char *n = mt_xasprintf("%s%s%c", q.s, *c == '"' || *c == '\\' ? "\\" : "", *c);
			free(q.s);
			q.s = n;
		}
		char *text = mt_xasprintf("rules = ( { name = \"r\"; match = { subject = \"%s\"; }; stop = true; } );\n", q.s);
		free(q.s);
		CHECK(sv_load(text, &rs, &e) == MT_OK);
		free(text);
		if (rs.n != 1)
			continue;
		int rc = mt_sieve_compile(&rs, &t, &out, &e);
		if (rc != MT_OK || out.script == NULL) {
			fprintf(stderr, "/%s/ refused: %s\n", pats[i], out.nrefused ? out.refused[0].why : e.msg);
			failures++;
			mt_sieve_out_release(&out);
			mt_rules_release(&rs);
			continue;
		}
		const char *h = strstr(out.script, "if header :");
		int contains = h && strncmp(h, "if header :contains", 19) == 0;
		int icase = h && strstr(h, "\"i;ascii-casemap\"") != NULL;
		const char *arg = h ? strstr(h, "\"subject\" \"") : NULL;
		char *want = arg ? sv_unquote(arg + 11) : NULL;
		regex_t re;
		CHECK(want != NULL);
		if (want == NULL || (!contains && regcomp(&re, want, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0)) != 0)) {
			fprintf(stderr, "/%s/ -> '%s' does not compile as POSIX ERE\n", pats[i], want ? want : "(none)");
			failures++;
			free(want);
			mt_sieve_out_release(&out);
			mt_rules_release(&rs);
			continue;
		}
		for (int round = 0; round < 20000; round++) {
			char subj[16];
			seed = seed * 1103515245u + 12345u;
			int n = (int)((seed >> 16) % 12);
			for (int j = 0; j < n; j++) {
				seed = seed * 1103515245u + 12345u;
				subj[j] = alpha[(seed >> 16) % (sizeof alpha - 1)];
			}
			subj[n] = '\0';
			/* now and then a subject built of the pattern's own characters */
			if (round % 3 == 0)
				for (int j = 0; j < n; j++) {
					seed = seed * 1103515245u + 12345u;
					char c = pats[i][(seed >> 16) % strlen(pats[i])];
					if (c != ' ' && c != '?')
						subj[j] = c;
				}
			/* every fourth: Pigeonhole's value begins with blanks a fold
			 * or an encoded word left, where filter's has none */
			char ssubj[24];
			snprintf(ssubj, sizeof ssubj, "%s%s", round % 4 == 1 ? " \t\x01 " : "", subj);
			int pc = mt_re_match(rs.v[0].cond->re, subj, strlen(subj), NULL);
			int sv = contains ? (icase ? strcasestr(ssubj, want) != NULL : strstr(ssubj, want) != NULL)
					  : regexec(&re, ssubj, 0, NULL, 0) == 0;
			checked++;
			matched += pc == 1;
			if (pc != sv) {
				fprintf(stderr, "/%s/ -> '%s': '%s' PCRE2 %d, POSIX %d\n", pats[i], want, subj, pc, sv);
				failures++;
				break;
			}
		}
		if (!contains)
			regfree(&re);
		free(want);
		mt_sieve_out_release(&out);
		mt_rules_release(&rs);
	}
	/* the subjects must reach matches, or this proves little */
	CHECK(checked > 0 && matched > 2000);
}

static const struct { const char *name; void (*fn)(void); } groups[] = {
	{ "size", t_size }, { "duration", t_duration }, { "date", t_date }, { "human", t_human }, { "pct", t_pct }, { "mutf7", t_mutf7 },
	{ "uidset", t_uidset }, { "json", t_json }, { "edit", t_edit }, { "words", t_words }, { "wild", t_wild }, { "table", t_table }, { "term", t_term },
	{ "literals", t_literals }, { "decode", t_decode }, { "body", t_body }, { "safepath", t_safepath }, { "oauth", t_oauth },
	{ "numguard", t_numguard }, { "query", t_query }, { "match", t_match }, { "prefilter", t_prefilter },
	{ "sieve", t_sieve }, { "sieveregex", t_sieveregex },
};

int main(int argc, char **argv)
{
	size_t n = sizeof groups / sizeof *groups;
	if (argc < 2) {
		for (size_t i = 0; i < n; i++)
			puts(groups[i].name);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(argv[1], groups[i].name) == 0) {
			groups[i].fn();
			return failures ? 1 : 0;
		}
	fprintf(stderr, "no test group '%s'\n", argv[1]);
	return 2;
}
