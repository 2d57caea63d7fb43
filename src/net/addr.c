/* SPDX-License-Identifier: Apache-2.0 */
/* Address parsing, resolution and connect helpers. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

int addr_split(const char *s, char *hostbuf, size_t hostsz, uint16_t *ret_port)
{
	if (!s || !*s)
		return NET_E_ADDRESS;
	const char *colon;
	const char *hs, *he;
	if (s[0] == '[') {
		he = strchr(s, ']');
		if (!he || he[1] != ':')
			return NET_E_ADDRESS;
		hs = s + 1;
		colon = he + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return NET_E_ADDRESS;
		hs = s;
		he = colon;
		if (memchr(hs, ':', (size_t)(he - hs)))
			return NET_E_ADDRESS; /* bare IPv6 needs brackets */
	}
	size_t hl = (size_t)(he - hs);
	if (hl + 1 > hostsz)
		return NET_E_ADDRESS;
	memcpy(hostbuf, hs, hl);
	hostbuf[hl] = 0;
	uint64_t port;
	if (cc_parse_u64(colon + 1, &port) < 0 || port > 65535)
		return NET_E_ADDRESS;
	*ret_port = (uint16_t)port;
	return 0;
}

void addr_format(const struct sockaddr *sa, char *buf, size_t sz)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(buf, sz, "%s:%u", ip, ntohs(s4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, sz, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else {
		snprintf(buf, sz, "unix");
	}
}

int addr_connect(const char *host, uint16_t port, int *ret_fd)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	char ps[8];
	snprintf(ps, sizeof(ps), "%u", port);
	int g = getaddrinfo(host, ps, &hints, &res);
	if (g != 0) {
		cc_log(CC_LOG_DEBUG, NET_LOG, "resolve \"%s\": %s", host, gai_strerror(g));
		return NET_E_ADDRESS;
	}
	int err = -ECONNREFUSED;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				ai->ai_protocol);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
			freeaddrinfo(res);
			*ret_fd = fd;
			return 0;
		}
		err = -errno;
		close(fd);
	}
	freeaddrinfo(res);
	return err;
}

int fd_wait(int fd, bool write, uint64_t deadline_ns)
{
	for (;;) {
		uint64_t now = cc_mono_ns();
		if (deadline_ns && now >= deadline_ns)
			return NET_E_TIMEOUT;
		int to = -1;
		if (deadline_ns) {
			uint64_t left = (deadline_ns - now) / 1000000u + 1;
			to = left > 60000 ? 60000 : (int)left;
		}
		struct pollfd p = {.fd = fd, .events = write ? POLLOUT : POLLIN};
		int r = poll(&p, 1, to);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}
