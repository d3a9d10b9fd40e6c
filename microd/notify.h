/*
 * The systemd notification protocol (sd_notify(3)) without libsystemd:
 * one datagram to $NOTIFY_SOCKET per state change, and WATCHDOG=1 pings
 * at half of $WATCHDOG_USEC while the master's loop runs.
 */
#ifndef MICRO_NOTIFY_H
#define MICRO_NOTIFY_H

#include <stdint.h>

struct event_base;

void	 notify_init(struct event_base *);
void	 notify_send(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 notify_shutdown(void);

#endif
