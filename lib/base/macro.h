/* SPDX-License-Identifier: MIT */
/*
 * The attributes every internal header needs, so that no header pulls a
 * database or HTTP client in for a printf attribute. The public plugin.h
 * defines the same two macros for plugins (identically).
 */
#ifndef CHIME_MACRO_H
#define CHIME_MACRO_H

#if defined(__GNUC__)
#ifndef CHIME_PRINTF
#define CHIME_PRINTF(a, b) __attribute__((format(printf, a, b)))
#endif
#ifndef CHIME_EXPORT
#define CHIME_EXPORT __attribute__((visibility("default")))
#endif
#else
#define CHIME_PRINTF(a, b)
#define CHIME_EXPORT
#endif

#define CHIME_ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

#endif
