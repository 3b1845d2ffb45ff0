/* The names of a client certificate as the core matches them against an
 * identity's cert-subject (docs/operations.md, "Identities"), made here for
 * every transport (https, grpcs and nng+tls+tcp hand over the verified
 * certificate), so one cert-subject names one certificate on all of them.
 * The forms are those GnuTLS gives, as https always gave. The subject DN is written as GnuTLS's
 * gnutls_x509_crt_get_dn writes it: the RDNs in certificate order (GnuTLS's
 * compatible form: RFC 4514 would put the last first), short attribute
 * names, ',' between RDNs and '+' inside one, RFC 4514's escapes, and a
 * value it cannot write as text as '#' and the hex of its DER. The common
 * name carries the same escapes. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#include "grove/sys/cert_names.h"
#include "grove/sys/error.h"

/* The attribute names GnuTLS writes (its OID table), with the one string type
 * an attribute must have (0: a DirectoryString, any of them): GnuTLS writes
 * a value of another type as hex. Other attributes are dotted, in hex. */
static const struct {
    const char *oid;
    const char *name;
    int tag;
} cert_attrs[] = {
    {"2.5.4.3", "CN", 0},
    {"2.5.4.4", "surName", 0},
    {"2.5.4.5", "serialNumber", MBEDTLS_ASN1_PRINTABLE_STRING},
    {"2.5.4.6", "C", MBEDTLS_ASN1_PRINTABLE_STRING},
    {"2.5.4.7", "L", 0},
    {"2.5.4.8", "ST", 0},
    {"2.5.4.9", "street", 0},
    {"2.5.4.10", "O", 0},
    {"2.5.4.11", "OU", 0},
    {"2.5.4.12", "title", 0},
    {"2.5.4.13", "description", 0},
    {"2.5.4.15", "businessCategory", 0},
    {"2.5.4.17", "postalCode", 0},
    {"2.5.4.20", "telephoneNumber", MBEDTLS_ASN1_PRINTABLE_STRING},
    {"2.5.4.41", "name", 0},
    {"2.5.4.42", "givenName", 0},
    {"2.5.4.43", "initials", 0},
    {"2.5.4.44", "generationQualifier", 0},
    {"2.5.4.46", "dnQualifier", MBEDTLS_ASN1_PRINTABLE_STRING},
    {"2.5.4.65", "pseudonym", 0},
    {"0.9.2342.19200300.100.1.1", "UID", 0},
    {"0.9.2342.19200300.100.1.25", "DC", MBEDTLS_ASN1_IA5_STRING},
    {"1.2.840.113549.1.9.1", "EMAIL", MBEDTLS_ASN1_IA5_STRING},
    {"1.2.840.113556.1.4.656", "userPrincipalName", 0},
    {"1.3.6.1.5.5.7.9.2", "placeOfBirth", 0},
    {"1.3.6.1.5.5.7.9.3", "gender", MBEDTLS_ASN1_PRINTABLE_STRING},
    {"1.3.6.1.5.5.7.9.4", "countryOfCitizenship", MBEDTLS_ASN1_PRINTABLE_STRING},
    {"1.3.6.1.5.5.7.9.5", "countryOfResidence", MBEDTLS_ASN1_PRINTABLE_STRING},
    {"1.3.6.1.4.1.311.60.2.1.1", "jurisdictionOfIncorporationLocalityName", 0},
    {"1.3.6.1.4.1.311.60.2.1.2", "jurisdictionOfIncorporationStateOrProvinceName", 0},
    {"1.3.6.1.4.1.311.60.2.1.3", "jurisdictionOfIncorporationCountryName",
     MBEDTLS_ASN1_PRINTABLE_STRING},
};

#define NNGN_ATTR_COUNT (sizeof cert_attrs / sizeof cert_attrs[0])

/* A string that stops growing (and says so) at its capacity. */
struct cert_out {
    char *s;
    size_t len, cap;
    bool full;
};

static void cert_put(struct cert_out *o, const char *s, size_t len)
{
    if (o->full || len >= o->cap - o->len) {
        o->full = true;
        return;
    }
    memcpy(o->s + o->len, s, len);
    o->len += len;
    o->s[o->len] = '\0';
}

static void cert_put_str(struct cert_out *o, const char *s)
{
    cert_put(o, s, strlen(s));
}

/* Code point cp as UTF-8. */
static void cert_put_utf8(struct cert_out *o, unsigned long cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    cert_put(o, b, n);
}

/* One byte of a value, with RFC 4514's escapes as GnuTLS applies them. */
static void cert_put_escaped(struct cert_out *o, char c, bool first, bool last)
{
    if (strchr(",+\"\\<>;", c) || (first && (c == '#' || c == ' ')) || (last && c == ' '))
        cert_put(o, "\\", 1);
    cert_put(o, &c, 1);
}

/* '#' and the hex of the value's DER (tag, length, bytes). */
static void cert_put_der_hex(struct cert_out *o, const mbedtls_x509_buf *val)
{
    unsigned char head[6];
    size_t n = 0;
    head[n++] = (unsigned char)val->tag;
    if (val->len < 0x80) {
        head[n++] = (unsigned char)val->len;
    } else {
        size_t bytes = val->len < 0x100 ? 1 : val->len < 0x10000 ? 2 : 3;
        head[n++] = (unsigned char)(0x80 | bytes);
        for (size_t i = bytes; i > 0; i--)
            head[n++] = (unsigned char)(val->len >> (8 * (i - 1)));
    }
    cert_put(o, "#", 1);
    char hex[3];
    for (size_t i = 0; i < n + val->len; i++) {
        snprintf(hex, sizeof hex, "%02x", i < n ? head[i] : val->p[i - n]);
        cert_put(o, hex, 2);
    }
}

/* An attribute value: strings as UTF-8 with escapes, anything else (or a
 * string of a type other than want, when not 0) as hex. false for a NUL
 * inside, which GnuTLS refuses to write. */
static bool cert_put_value(struct cert_out *o, const mbedtls_x509_buf *val, int want)
{
    size_t unit = val->tag == MBEDTLS_ASN1_BMP_STRING         ? 2
                  : val->tag == MBEDTLS_ASN1_UNIVERSAL_STRING ? 4
                                                              : 1;
    bool text = unit > 1 || val->tag == MBEDTLS_ASN1_UTF8_STRING ||
                val->tag == MBEDTLS_ASN1_PRINTABLE_STRING || val->tag == MBEDTLS_ASN1_IA5_STRING ||
                val->tag == MBEDTLS_ASN1_T61_STRING;
    if (!text || val->len % unit || (want && val->tag != want)) {
        cert_put_der_hex(o, val);
        return true;
    }
    for (size_t i = 0; i < val->len; i += unit) {
        unsigned long cp = 0;
        for (size_t k = 0; k < unit; k++)
            cp = cp << 8 | val->p[i + k];
        if (cp == 0)
            return false;
        bool first = i == 0, last = i + unit == val->len;
        if (unit == 1 || cp < 0x80)
            cert_put_escaped(o, (char)cp, first, last);
        else
            cert_put_utf8(o, cp);
    }
    return true;
}

/* "name=value" for one attribute. */
static void cert_put_attr(struct cert_out *o, const mbedtls_x509_name *a)
{
    char dotted[128];
    if (mbedtls_oid_get_numeric_string(dotted, sizeof dotted, &a->oid) < 0) {
        o->full = true; /* an OID this long makes no name anyone configures */
        return;
    }
    size_t i = 0;
    while (i < NNGN_ATTR_COUNT && strcmp(cert_attrs[i].oid, dotted) != 0)
        i++;
    cert_put_str(o, i < NNGN_ATTR_COUNT ? cert_attrs[i].name : dotted);
    cert_put(o, "=", 1);
    bool known = i < NNGN_ATTR_COUNT;
    if (!known)
        cert_put_der_hex(o, &a->val);
    else if (!cert_put_value(o, &a->val, cert_attrs[i].tag))
        o->full = true;
}

/* The DN into o; o->full when it does not fit or cannot be written.
 * mbedTLS lists the attributes in certificate order, next_merged joining
 * those of one multi-valued RDN. */
static void cert_put_dn(struct cert_out *o, const mbedtls_x509_name *dn)
{
    bool first = true, merged = false;
    for (const mbedtls_x509_name *a = dn; a; a = a->next) {
        if (!a->oid.p)
            continue;
        if (!first)
            cert_put(o, merged ? "+" : ",", 1);
        cert_put_attr(o, a);
        first = false;
        merged = a->next_merged;
    }
}

static void cert_add(struct grove_cert_names *out, const char *s, size_t len)
{
    if (out->count == GROVE_CERT_NAMES || len == 0 || len >= GROVE_CERT_NAME_MAX)
        return;
    memcpy(out->text[out->count], s, len);
    out->text[out->count][len] = '\0';
    out->count++;
}

/* The first common name, escaped as in the DN (as GnuTLS's get_dn_by_oid
 * gives it). */
static void cert_add_cn(struct grove_cert_names *out, const mbedtls_x509_name *dn)
{
    for (const mbedtls_x509_name *a = dn; a; a = a->next) {
        if (!a->oid.p || MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &a->oid) != 0)
            continue;
        char cn[GROVE_CERT_NAME_MAX];
        struct cert_out o = {.s = cn, .cap = sizeof cn};
        if (cert_put_value(&o, &a->val, 0) && !o.full)
            cert_add(out, cn, o.len);
        return;
    }
}

/* SANs of type DNS name, email and URI, in certificate order. mbedTLS keeps
 * each as its context-specific tag over the raw IA5String. */
static void cert_add_sans(struct grove_cert_names *out, const mbedtls_x509_crt *crt)
{
    for (const mbedtls_x509_sequence *s = &crt->subject_alt_names; s && s->buf.p; s = s->next) {
        int type = s->buf.tag & MBEDTLS_ASN1_TAG_VALUE_MASK;
        bool primitive = !(s->buf.tag & MBEDTLS_ASN1_CONSTRUCTED);
        if (primitive && (type == 1 || type == 2 || type == 6) &&
            !memchr(s->buf.p, '\0', s->buf.len))
            cert_add(out, (const char *)s->buf.p, s->buf.len);
    }
}

void grove_cert_names_of(struct grove_cert_names *out, const mbedtls_x509_crt *crt)
{
    out->count = 0;
    char dn[GROVE_CERT_NAME_MAX];
    struct cert_out o = {.s = dn, .cap = sizeof dn};
    dn[0] = '\0';
    cert_put_dn(&o, &crt->subject);
    if (!o.full)
        cert_add(out, dn, o.len);
    cert_add_cn(out, &crt->subject);
    cert_add_sans(out, crt);
}

grove_err grove_cert_names_der(struct grove_cert_names *out, const unsigned char *der, size_t len)
{
    out->count = 0;
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    int rv = mbedtls_x509_crt_parse_der(&crt, der, len);
    grove_err err = GROVE_OK;
    if (rv)
        err = grove_error_set(GROVE_EINVAL, "certificate: mbedTLS error -0x%04x", (unsigned)-rv);
    else
        grove_cert_names_of(out, &crt);
    mbedtls_x509_crt_free(&crt);
    return err;
}

grove_err grove_cert_names_pem(struct grove_cert_names *out, const char *pem, size_t len)
{
    out->count = 0;
    /* mbedTLS reads PEM from a string whose length counts its NUL. */
    char *text = malloc(len + 1);
    if (!text)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    memcpy(text, pem, len);
    text[len] = '\0';
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    int rv = mbedtls_x509_crt_parse(&crt, (const unsigned char *)text, len + 1);
    grove_err err = GROVE_OK;
    if (rv)
        err = grove_error_set(GROVE_EINVAL, "certificate: mbedTLS error -0x%04x", (unsigned)-rv);
    else
        grove_cert_names_of(out, &crt);
    mbedtls_x509_crt_free(&crt);
    free(text);
    return err;
}
