/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ccserve/util.h"

#define CC_LOG_MAX 4096

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static cc_log_fn log_fn;
static void *log_ud;
static _Atomic int log_level = CC_LOG_INFO;
static _Atomic bool log_json;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

static void json_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
}

static void default_sink(void *ud, enum cc_log_level level, const char *component,
			 const char *msg)
{
	(void)ud;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char tbuf[32];
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
	const char *lname = (unsigned)level < CC_ARRAY_SIZE(level_names) ? level_names[level] : "?";
	flockfile(stderr);
	if (atomic_load(&log_json)) {
		fprintf(stderr, "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"component\":\"", tbuf,
			ts.tv_nsec / 1000000, lname);
		json_escape(stderr, component ? component : "");
		fputs("\",\"msg\":\"", stderr);
		json_escape(stderr, msg);
		fputs("\"}\n", stderr);
	} else {
		fprintf(stderr, "%s.%03ldZ %-5s %s: %s\n", tbuf, ts.tv_nsec / 1000000, lname,
			component ? component : "-", msg);
	}
	funlockfile(stderr);
}

void cc_log_set_sink(cc_log_fn fn, void *userdata)
{
	pthread_mutex_lock(&log_lock);
	log_fn = fn;
	log_ud = userdata;
	pthread_mutex_unlock(&log_lock);
}

void cc_log_set_level(enum cc_log_level level)
{
	atomic_store(&log_level, (int)level);
}

enum cc_log_level cc_log_get_level(void)
{
	return (enum cc_log_level)atomic_load(&log_level);
}

void cc_log_set_json(bool json)
{
	atomic_store(&log_json, json);
}

int cc_log_level_parse(const char *s, enum cc_log_level *ret_level)
{
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < CC_ARRAY_SIZE(level_names); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*ret_level = (enum cc_log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*ret_level = CC_LOG_WARN;
		return 0;
	}
	return -EINVAL;
}

void cc_logv(enum cc_log_level level, const char *component, const char *fmt, va_list ap)
{
	if ((int)level > atomic_load(&log_level))
		return;
	char msg[CC_LOG_MAX];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	/* One line per message: fold embedded newlines so a hostile string
	 * cannot forge log lines. */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	pthread_mutex_lock(&log_lock);
	cc_log_fn fn = log_fn;
	void *ud = log_ud;
	pthread_mutex_unlock(&log_lock);
	if (fn)
		fn(ud, level, component, msg);
	else
		default_sink(NULL, level, component, msg);
}

void cc_log(enum cc_log_level level, const char *component, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cc_logv(level, component, fmt, ap);
	va_end(ap);
}
