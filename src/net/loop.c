/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event loop: one epoll instance, an eventfd for cross-thread wake-ups
 * (posted tasks), a coarse timer list and end-of-iteration callbacks (used
 * to batch output: every connection that produced data is flushed once per
 * iteration, so many responses share one TLS write).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

struct net_loop {
	int epfd;
	struct net_io wake;
	pthread_mutex_t mu;
	struct net_task *tasks_head, *tasks_tail;
	bool wake_pending;      /* under mu: an eventfd write is outstanding */
	atomic_bool stop;
	atomic_bool running;
	pthread_t runner;       /* valid while running */
	pthread_t thread;       /* background thread (net_loop_start) */
	bool has_thread;
	struct net_timer timers; /* list head (sentinel) */
	uint64_t next_tick_ns;
	struct net_defer *defer_head;
	struct net_defer *last_head; /* run after every regular defer */
};

static _Thread_local struct net_loop *tls_current_loop;

static void wake_cb(struct net_io *io, uint32_t events)
{
	uint64_t v;
	ssize_t n = read(io->fd, &v, sizeof(v));
	(void)n;
}

int net_loop_new(struct net_loop **ret)
{
	struct net_loop *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int e = -errno;
		free(l);
		return e;
	}
	l->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->wake.fd < 0) {
		int e = -errno;
		close(l->epfd);
		free(l);
		return e;
	}
	l->wake.fn = wake_cb;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &l->wake};
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wake.fd, &ev) < 0) {
		int e = -errno;
		close(l->wake.fd);
		close(l->epfd);
		free(l);
		return e;
	}
	pthread_mutex_init(&l->mu, NULL);
	l->timers.next = l->timers.prev = &l->timers;
	*ret = l;
	return 0;
}

int loop_epfd(const struct net_loop *l)
{
	return l->epfd;
}

int loop_add(struct net_loop *l, struct net_io *io, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0)
		return -errno;
	return 0;
}

int loop_mod(struct net_loop *l, struct net_io *io, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0)
		return -errno;
	return 0;
}

void loop_del(struct net_loop *l, struct net_io *io)
{
	if (io->fd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

void loop_timer_set(struct net_loop *l, struct net_timer *t, uint64_t deadline_ns)
{
	t->deadline_ns = deadline_ns;
	if (deadline_ns == 0) {
		if (t->linked) {
			t->prev->next = t->next;
			t->next->prev = t->prev;
			t->linked = false;
		}
		return;
	}
	if (!t->linked) {
		t->next = &l->timers;
		t->prev = l->timers.prev;
		l->timers.prev->next = t;
		l->timers.prev = t;
		t->linked = true;
	}
}

static void run_timers(struct net_loop *l, uint64_t now)
{
	struct net_timer *t = l->timers.next;
	while (t != &l->timers) {
		struct net_timer *next = t->next;
		if (t->deadline_ns && t->deadline_ns <= now) {
			/* Disarm first: fn may re-arm or free t. */
			loop_timer_set(l, t, 0);
			t->fn(t);
		}
		t = next;
	}
}

static void wake_up(struct net_loop *l)
{
	uint64_t one = 1;
	ssize_t n = write(l->wake.fd, &one, sizeof(one));
	(void)n; /* EAGAIN means the counter is already non-zero: awake */
}

void loop_post_task(struct net_loop *l, struct net_task *t)
{
	t->next = NULL;
	pthread_mutex_lock(&l->mu);
	if (l->tasks_tail)
		l->tasks_tail->next = t;
	else
		l->tasks_head = t;
	l->tasks_tail = t;
	bool need_wake = !l->wake_pending;
	l->wake_pending = true;
	pthread_mutex_unlock(&l->mu);
	if (need_wake && !(tls_current_loop == l))
		wake_up(l);
}

static void alloc_task_fn(struct net_task *t)
{
	void (*fn)(void *) = t->ud_fn;
	void *ud = t->ud;
	free(t);
	fn(ud);
}

int net_loop_post(struct net_loop *loop, void (*fn)(void *userdata), void *userdata)
{
	if (!loop || !fn)
		return NET_E_CONFIG;
	struct net_task *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->fn = alloc_task_fn;
	t->ud_fn = fn;
	t->ud = userdata;
	loop_post_task(loop, t);
	return 0;
}

void loop_defer_last(struct net_loop *l, struct net_defer *d)
{
	if (d->queued)
		return;
	d->queued = true;
	d->next = l->last_head;
	l->last_head = d;
}

void loop_defer_cancel(struct net_loop *l, struct net_defer *d)
{
	if (!d->queued)
		return;
	struct net_defer **heads[2] = {&l->defer_head, &l->last_head};
	for (int i = 0; i < 2; i++) {
		for (struct net_defer **pp = heads[i]; *pp; pp = &(*pp)->next) {
			if (*pp == d) {
				*pp = d->next;
				d->queued = false;
				return;
			}
		}
	}
}

void loop_defer(struct net_loop *l, struct net_defer *d)
{
	if (d->queued)
		return;
	d->queued = true;
	d->next = l->defer_head;
	l->defer_head = d;
}

static void run_tasks(struct net_loop *l)
{
	pthread_mutex_lock(&l->mu);
	struct net_task *t = l->tasks_head;
	l->tasks_head = l->tasks_tail = NULL;
	l->wake_pending = false;
	pthread_mutex_unlock(&l->mu);
	while (t) {
		struct net_task *next = t->next;
		t->fn(t);
		t = next;
	}
}

static void run_defers(struct net_loop *l)
{
	/* Callbacks may queue more (a flush that closes a connection). */
	while (l->defer_head) {
		struct net_defer *d = l->defer_head;
		l->defer_head = NULL;
		while (d) {
			struct net_defer *next = d->next;
			d->queued = false;
			d->fn(d);
			d = next;
		}
	}
	/* Frees last: nothing queued above may still name the object. */
	while (l->last_head) {
		struct net_defer *d = l->last_head;
		l->last_head = NULL;
		while (d) {
			struct net_defer *next = d->next;
			d->queued = false;
			d->fn(d);
			d = next;
		}
	}
}

bool net_loop_is_current(const struct net_loop *loop)
{
	return loop && tls_current_loop == loop;
}

int net_loop_run(struct net_loop *l)
{
	if (!l)
		return NET_E_CONFIG;
	bool expect = false;
	if (!atomic_compare_exchange_strong(&l->running, &expect, true))
		return NET_E_STATE;
	l->runner = pthread_self();
	struct net_loop *prev = tls_current_loop;
	tls_current_loop = l;
	struct epoll_event evs[64];
	while (!atomic_load(&l->stop)) {
		int timeout = -1;
		uint64_t now = cc_mono_ns();
		bool has_timers = l->timers.next != &l->timers;
		if (has_timers) {
			if (l->next_tick_ns <= now) {
				run_timers(l, now);
				run_defers(l);
				l->next_tick_ns = now + (uint64_t)NET_TIMER_TICK_MS * 1000000u;
			}
			timeout = (int)((l->next_tick_ns - now) / 1000000u) + 1;
		}
		pthread_mutex_lock(&l->mu);
		if (l->tasks_head)
			timeout = 0;
		pthread_mutex_unlock(&l->mu);
		if (l->defer_head || l->last_head)
			timeout = 0;
		int n = epoll_wait(l->epfd, evs, (int)CC_ARRAY_SIZE(evs), timeout);
		if (n < 0 && errno != EINTR) {
			cc_log(CC_LOG_ERROR, NET_LOG, "epoll_wait: %s", cc_strerror(-errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct net_io *io = evs[i].data.ptr;
			io->fn(io, evs[i].events);
		}
		run_tasks(l);
		run_defers(l);
	}
	/* Tasks posted after stop still run once, so nothing posted leaks. */
	run_tasks(l);
	run_defers(l);
	tls_current_loop = prev;
	atomic_store(&l->stop, false);
	atomic_store(&l->running, false);
	return 0;
}

static void *loop_thread(void *arg)
{
	net_loop_run(arg);
	return NULL;
}

int net_loop_start(struct net_loop *l)
{
	if (!l)
		return NET_E_CONFIG;
	if (l->has_thread || atomic_load(&l->running))
		return NET_E_STATE;
	int r = pthread_create(&l->thread, NULL, loop_thread, l);
	if (r)
		return -r;
	l->has_thread = true;
	return 0;
}

void net_loop_stop(struct net_loop *l)
{
	if (!l)
		return;
	atomic_store(&l->stop, true);
	wake_up(l);
}

void net_loop_join(struct net_loop *l)
{
	if (l && l->has_thread) {
		pthread_join(l->thread, NULL);
		l->has_thread = false;
	}
}

void net_loop_free(struct net_loop *l)
{
	if (!l)
		return;
	if (l->has_thread) {
		net_loop_stop(l);
		net_loop_join(l);
	}
	/* Run whatever is still queued so posted work is not leaked. */
	struct net_task *t = l->tasks_head;
	l->tasks_head = l->tasks_tail = NULL;
	while (t) {
		struct net_task *next = t->next;
		t->fn(t);
		t = next;
	}
	close(l->wake.fd);
	close(l->epfd);
	pthread_mutex_destroy(&l->mu);
	free(l);
}
