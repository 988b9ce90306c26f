/* DbgPrint and DbgPrintEx for the simulator.
 *
 * They are variadic, which stable Rust cannot define, so they live here. The format is the
 * kernel's printf dialect, whose integer sizes follow Windows (LLP64), not the host: `l` is
 * 32-bit, `I64`/`ll` 64-bit, `I`/`z` pointer-sized; `%wZ` prints a UNICODE_STRING, `%Z` an
 * ANSI_STRING, `%ws`/`%ls`/`%S` a UTF-16 string, `%wc`/`%C` a UTF-16 character. Each conversion
 * is fetched with its Windows size and printed with the host's snprintf; the text goes to
 * `wdm_sim_debug_print` (Rust), which records it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

void wdm_sim_debug_print(uint32_t component, uint32_t level, const char *text, size_t len);

typedef struct { uint16_t Length; uint16_t MaximumLength; const uint16_t *Buffer; } sim_unicode_string;
typedef struct { uint16_t Length; uint16_t MaximumLength; const char *Buffer; } sim_ansi_string;

typedef struct { char *buf; size_t cap; size_t len; } out_t;

static void put(out_t *o, const char *s, size_t n) {
    for (size_t i = 0; i < n && o->len + 1 < o->cap; i++) o->buf[o->len++] = s[i];
    o->buf[o->len] = 0;
}

/* UTF-16 to UTF-8, at most `max` units (or until NUL when max < 0). */
static void put_utf16(out_t *o, const uint16_t *s, long max) {
    if (!s) { put(o, "(null)", 6); return; }
    for (long i = 0; max < 0 ? s[i] != 0 : i < max; i++) {
        uint32_t c = s[i];
        if (c >= 0xD800 && c < 0xDC00 && (max < 0 || i + 1 < max) && s[i + 1] >= 0xDC00 && s[i + 1] < 0xE000) {
            c = 0x10000 + ((c - 0xD800) << 10) + (s[i + 1] - 0xDC00);
            i++;
        }
        char b[4]; size_t n;
        if (c < 0x80) { b[0] = (char)c; n = 1; }
        else if (c < 0x800) { b[0] = (char)(0xC0 | (c >> 6)); b[1] = (char)(0x80 | (c & 0x3F)); n = 2; }
        else if (c < 0x10000) { b[0] = (char)(0xE0 | (c >> 12)); b[1] = (char)(0x80 | ((c >> 6) & 0x3F)); b[2] = (char)(0x80 | (c & 0x3F)); n = 3; }
        else { b[0] = (char)(0xF0 | (c >> 18)); b[1] = (char)(0x80 | ((c >> 12) & 0x3F)); b[2] = (char)(0x80 | ((c >> 6) & 0x3F)); b[3] = (char)(0x80 | (c & 0x3F)); n = 4; }
        put(o, b, n);
    }
}

static void format(out_t *o, const char *f, va_list ap) {
    char spec[32], tmp[512];
    while (*f) {
        if (*f != '%') { put(o, f++, 1); continue; }
        const char *start = f++;
        if (*f == '%') { put(o, "%", 1); f++; continue; }
        size_t sl = 0;
        spec[sl++] = '%';
        int width = -1, prec = -1;
        while (*f && strchr("-+ #0", *f) && sl < 8) spec[sl++] = *f++;
        if (*f == '*') { width = va_arg(ap, int); f++; spec[sl++] = '*'; }
        else while (*f >= '0' && *f <= '9' && sl < 16) spec[sl++] = *f++;
        if (*f == '.') {
            spec[sl++] = *f++;
            if (*f == '*') { prec = va_arg(ap, int); f++; spec[sl++] = '*'; }
            else { prec = 0; while (*f >= '0' && *f <= '9' && sl < 24) { prec = prec * 10 + (*f - '0'); spec[sl++] = *f++; } }
        }
        /* Size: 0 int, 1 short, 2 char, 8 64-bit, 'w' wide. */
        int size = 0;
        if (*f == 'h') { f++; size = 1; if (*f == 'h') { f++; size = 2; } }
        else if (*f == 'l') { f++; size = 0; if (*f == 'l') { f++; size = 8; } else if (*f == 's' || *f == 'c') size = 'w'; }
        else if (*f == 'w') { f++; size = 'w'; }
        else if (f[0] == 'I' && f[1] == '6' && f[2] == '4') { f += 3; size = 8; }
        else if (f[0] == 'I' && f[1] == '3' && f[2] == '2') { f += 3; size = 0; }
        else if (*f == 'I' || *f == 'z' || *f == 'j' || *f == 't') { f++; size = 8; }
        char conv = *f ? *f++ : 0;
        int n = 0;
        switch (conv) {
        case 'd': case 'i': case 'u': case 'x': case 'X': case 'o': {
            spec[sl++] = 'l'; spec[sl++] = 'l'; spec[sl++] = conv; spec[sl] = 0;
            long long v;
            int is_signed = conv == 'd' || conv == 'i';
            if (size == 8) v = va_arg(ap, long long);
            else {
                unsigned int raw = va_arg(ap, unsigned int);
                if (size == 1) v = is_signed ? (long long)(short)raw : (long long)(unsigned short)raw;
                else if (size == 2) v = is_signed ? (long long)(signed char)raw : (long long)(unsigned char)raw;
                else v = is_signed ? (long long)(int)raw : (long long)raw;
            }
            if (width >= 0 && prec >= 0) n = snprintf(tmp, sizeof tmp, spec, width, prec, v);
            else if (width >= 0) n = snprintf(tmp, sizeof tmp, spec, width, v);
            else if (prec >= 0) n = snprintf(tmp, sizeof tmp, spec, prec, v);
            else n = snprintf(tmp, sizeof tmp, spec, v);
            break;
        }
        case 'p': {
            void *v = va_arg(ap, void *);
            n = snprintf(tmp, sizeof tmp, "%016llX", (unsigned long long)(uintptr_t)v);
            break;
        }
        case 'c': case 'C': {
            if (size == 'w' || conv == 'C') { uint16_t c[2] = { (uint16_t)va_arg(ap, unsigned int), 0 }; put_utf16(o, c, 1); }
            else { char c = (char)va_arg(ap, int); put(o, &c, 1); }
            continue;
        }
        case 's': case 'S': {
            if (size == 'w' || conv == 'S') put_utf16(o, va_arg(ap, const uint16_t *), prec);
            else {
                const char *s = va_arg(ap, const char *);
                if (!s) s = "(null)";
                size_t len = strlen(s);
                if (prec >= 0 && (size_t)prec < len) len = (size_t)prec;
                put(o, s, len);
            }
            continue;
        }
        case 'Z': {
            if (size == 'w') {
                const sim_unicode_string *u = va_arg(ap, const sim_unicode_string *);
                if (u) put_utf16(o, u->Buffer, u->Length / 2); else put(o, "(null)", 6);
            } else {
                const sim_ansi_string *a = va_arg(ap, const sim_ansi_string *);
                if (a && a->Buffer) put(o, a->Buffer, a->Length); else put(o, "(null)", 6);
            }
            continue;
        }
        case 'e': case 'E': case 'f': case 'g': case 'G': {
            spec[sl++] = conv; spec[sl] = 0;
            double v = va_arg(ap, double);
            if (width >= 0 && prec >= 0) n = snprintf(tmp, sizeof tmp, spec, width, prec, v);
            else if (width >= 0) n = snprintf(tmp, sizeof tmp, spec, width, v);
            else if (prec >= 0) n = snprintf(tmp, sizeof tmp, spec, prec, v);
            else n = snprintf(tmp, sizeof tmp, spec, v);
            break;
        }
        default:
            /* Unknown conversion: print it as written, consume nothing. */
            put(o, start, (size_t)(f - start));
            continue;
        }
        if (n > 0) put(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
    }
}

static uint32_t emit(uint32_t component, uint32_t level, const char *fmt, va_list ap) {
    char buf[1024];
    out_t o = { buf, sizeof buf, 0 };
    buf[0] = 0;
    if (fmt) format(&o, fmt, ap);
    wdm_sim_debug_print(component, level, buf, o.len);
    return 0; /* STATUS_SUCCESS */
}

uint32_t DbgPrintEx(uint32_t component, uint32_t level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    uint32_t r = emit(component, level, fmt, ap);
    va_end(ap);
    return r;
}

uint32_t DbgPrint(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    uint32_t r = emit(0xFFFFFFFFu, 0, fmt, ap);
    va_end(ap);
    return r;
}
