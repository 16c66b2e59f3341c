/* cyrus-syslog.c - LD_PRELOAD shim for the private Cyrus of tests/lib/cyrus.sh.
 *
 * Cyrus logs only through syslog(3), and a test machine has no /dev/log, so
 * a failed start would be a silent exit.  This shim replaces openlog, syslog,
 * vsyslog (and the _FORTIFY_SOURCE variants) with appends to the file named
 * by $MT_CY_SYSLOG_FILE:  "YYYY-mm-dd HH:MM:SS ident[pid]: message".
 * Each line is one write(2) on an O_APPEND descriptor, so the lines of the
 * many Cyrus processes do not interleave.  Built by `cyrus.sh install`:
 *   cc -shared -fPIC -O2 -o mt-syslog.so cyrus-syslog.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static char mt_ident[64] = "cyrus";
static int mt_fd = -1;

static void mt_open(void)
{
    const char *f;
    if (mt_fd >= 0)
        return;
    f = getenv("MT_CY_SYSLOG_FILE");
    if (!f || !*f)
        return;
    mt_fd = open(f, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

void openlog(const char *ident, int option, int facility)
{
    (void)option;
    (void)facility;
    if (ident) {
        strncpy(mt_ident, ident, sizeof mt_ident - 1);
        mt_ident[sizeof mt_ident - 1] = '\0';
    }
    mt_open();
}

void closelog(void)
{
    /* keep the descriptor: Cyrus closes and reopens the log around forks */
}

int setlogmask(int mask)
{
    (void)mask;
    return 0xff;
}

void vsyslog(int pri, const char *fmt, va_list ap)
{
    char buf[4096];
    int n, m, saved = errno;
    time_t t = time(NULL);
    struct tm tm;
    static const char *lv[] = {"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"};

    mt_open();
    if (mt_fd < 0)
        return;
    localtime_r(&t, &tm);
    n = (int)strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S ", &tm);
    n += snprintf(buf + n, sizeof buf - (size_t)n, "%s[%d] %s: ", mt_ident, (int)getpid(), lv[pri & 7]);
    if (n < 0 || (size_t)n >= sizeof buf - 2)
        n = 0;
    errno = saved; /* for %m */
    m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
    if (m < 0)
        m = 0;
    n += m;
    if ((size_t)n > sizeof buf - 2)
        n = (int)sizeof buf - 2;
    if (n > 0 && buf[n - 1] != '\n')
        buf[n++] = '\n';
    if (write(mt_fd, buf, (size_t)n) < 0) {
        /* nothing sensible to do */
    }
    errno = saved;
}

void syslog(int pri, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsyslog(pri, fmt, ap);
    va_end(ap);
}

void __syslog_chk(int pri, int flag, const char *fmt, ...)
{
    va_list ap;
    (void)flag;
    va_start(ap, fmt);
    vsyslog(pri, fmt, ap);
    va_end(ap);
}

void __vsyslog_chk(int pri, int flag, const char *fmt, va_list ap)
{
    (void)flag;
    vsyslog(pri, fmt, ap);
}
