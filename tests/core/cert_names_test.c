/* The names every TLS listener hands the core for a client certificate
 * (core/cert_names.c) are the names GnuTLS reads, string for string, as https
 * always matched them: GnuTLS itself is the oracle here. Certificates: the test CA's (certtool) and some made with openssl,
 * which writes what certtool cannot (a multi-valued RDN, any attribute, a
 * value of the wrong string type). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "grove/sys/cert_names.h"
#include "support/certs.h"
#include "support/tmpdir.h"

/* The names GnuTLS gives for crt: the DN, the common name, the SANs. */
static void oracle_names(gnutls_x509_crt_t crt, struct grove_cert_names *out)
{
    out->count = 0;
    char buf[GROVE_CERT_NAME_MAX];
    size_t size = sizeof buf;
    if (gnutls_x509_crt_get_dn(crt, buf, &size) == GNUTLS_E_SUCCESS && buf[0])
        snprintf(out->text[out->count++], GROVE_CERT_NAME_MAX, "%s", buf);
    size = sizeof buf;
    if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &size) ==
            GNUTLS_E_SUCCESS &&
        buf[0])
        snprintf(out->text[out->count++], GROVE_CERT_NAME_MAX, "%s", buf);
    for (unsigned seq = 0; out->count < GROVE_CERT_NAMES; seq++) {
        size = sizeof buf;
        int type = gnutls_x509_crt_get_subject_alt_name(crt, seq, buf, &size, NULL);
        if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
            break;
        if ((type == GNUTLS_SAN_DNSNAME || type == GNUTLS_SAN_RFC822NAME ||
             type == GNUTLS_SAN_URI) &&
            size > 0 && size < sizeof buf)
            snprintf(out->text[out->count++], GROVE_CERT_NAME_MAX, "%.*s", (int)size, buf);
    }
}

/* Both lists of names for the PEM certificate at path; asserts they are
 * equal and returns the engine's in out. */
static void expect_same_names(const char *path, struct grove_cert_names *out)
{
    gnutls_datum_t pem = {0}, der = {0};
    cr_assert_eq(gnutls_load_file(path, &pem), GNUTLS_E_SUCCESS, "read %s", path);
    gnutls_x509_crt_t crt;
    cr_assert_eq(gnutls_x509_crt_init(&crt), GNUTLS_E_SUCCESS);
    cr_assert_eq(gnutls_x509_crt_import(crt, &pem, GNUTLS_X509_FMT_PEM), GNUTLS_E_SUCCESS, "%s",
                 path);
    cr_assert_eq(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der), GNUTLS_E_SUCCESS);
    struct grove_cert_names want;
    oracle_names(crt, &want);
    cr_assert_eq(grove_cert_names_der(out, der.data, der.size), GROVE_OK, "%s", path);
    for (size_t i = 0; i < want.count || i < out->count; i++)
        cr_expect_str_eq(i < out->count ? out->text[i] : "(none)",
                         i < want.count ? want.text[i] : "(none)", "%s: name %zu", path, i);
    cr_assert_eq(out->count, want.count, "%s: %zu names, GnuTLS %zu", path, out->count, want.count);
    gnutls_free(der.data);
    gnutls_free(pem.data);
    gnutls_x509_crt_deinit(crt);
}

/* A self-signed certificate by openssl with subject (its -subj syntax, '+'
 * joining a multi-valued RDN) and SANs (NULL: none), in dir; returns its path. */
static const char *openssl_cert(const char *dir, const char *name, const char *subject,
                                const char *sans)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s.pem", dir, name);
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "exec >/dev/null 2>&1; cd '%s' && openssl ecparam -name prime256v1 -genkey -noout "
             "-out %s.key && openssl req -x509 -new -key %s.key -days 2 -multivalue-rdn -utf8 "
             "-subj '%s' %s%s -out '%s'",
             dir, name, name, subject, sans ? "-addext subjectAltName=" : "", sans ? sans : "",
             path);
    cr_assert_eq(system(cmd), 0, "openssl failed: %s", cmd);
    return path;
}

Test(core_cert_names, test_ca_certificates)
{
    const struct support_certs *c = support_certs();
    struct grove_cert_names names;
    expect_same_names(c->client_cert, &names);
    cr_assert_str_eq(names.text[0], "CN=grove-client");
    expect_same_names(c->stranger_cert, &names);
    expect_same_names(c->cert, &names);
    expect_same_names(c->ca, &names);
    expect_same_names(c->rich_cert, &names);
    cr_assert_eq(names.count, 5);
    cr_assert_str_eq(names.text[0], SUPPORT_RICH_DN);
    /* The SANs in certificate order (certtool writes the URI first). */
    cr_assert_str_eq(names.text[2], SUPPORT_RICH_DNS);
    cr_assert_str_eq(names.text[3], SUPPORT_RICH_URI);
    cr_assert_str_eq(names.text[4], SUPPORT_RICH_EMAIL);
}

Test(core_cert_names, escapes_multivalued_and_utf8)
{
    const char *dir = support_tmpdir_new("names");
    struct grove_cert_names names;
    /* A leading '#' and space, a trailing space, every special character,
     * UTF-8, a multi-valued RDN; an IP SAN https does not name. */
    expect_same_names(openssl_cert(dir, "wide",
                                   "/DC=com/DC=example/C=CH/ST=ZH/L=Z\xc3\xbcrich/O=Acme, Inc."
                                   "/OU=sync+OU=edge/CN= #edge, \"7\" \\+ <x>; \\\\ = ",
                                   "DNS:edge.example.com,IP:10.0.0.1,email:ann@example.com,"
                                   "URI:spiffe://example.com/edge"),
                      &names);
    cr_assert_eq(names.count, 5);
    cr_assert(strstr(names.text[0], "OU=edge+OU=sync"), "%s", names.text[0]);
    /* Every attribute GnuTLS has a name for that openssl writes, and a
     * telephoneNumber as UTF8String, which GnuTLS writes as hex. */
    expect_same_names(openssl_cert(dir, "attrs",
                                   "/title=ops/SN=Smith/GN=Ann/serialNumber=SN123/street=Main St 1"
                                   "/telephoneNumber=41/emailAddress=ann@example.com/UID=u42"
                                   "/CN=attrs",
                                   NULL),
                      &names);
    cr_assert(strstr(names.text[0], "telephoneNumber=#0c023431"), "%s", names.text[0]);
    expect_same_names(openssl_cert(dir, "more",
                                   "/postalCode=8000/pseudonym=ps/dnQualifier=dq/initials=A"
                                   "/generationQualifier=Jr/name=nm/businessCategory=biz"
                                   "/description=desc/CN=more",
                                   NULL),
                      &names);
    cr_assert(strstr(names.text[0], "pseudonym=ps"), "%s", names.text[0]);
    support_tmpdir_remove(dir);
}

Test(core_cert_names, long_dn_left_out)
{
    const char *dir = support_tmpdir_new("names");
    char subject[1024] = "";
    for (int i = 0; i < 30; i++)
        snprintf(subject + strlen(subject), sizeof subject - strlen(subject), "/OU=unit-%d", i);
    strcat(subject, "/CN=long");
    struct grove_cert_names names;
    expect_same_names(openssl_cert(dir, "long", subject, "DNS:long.example.com"), &names);
    cr_assert_eq(names.count, 2, "no DN past %d bytes: the common name and the SAN",
                 GROVE_CERT_NAME_MAX);
    cr_assert_str_eq(names.text[0], "long");
    support_tmpdir_remove(dir);
}

Test(core_cert_names, not_a_certificate)
{
    struct grove_cert_names names;
    static const unsigned char junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    cr_assert_eq(grove_cert_names_der(&names, junk, sizeof junk), GROVE_EINVAL);
    cr_assert_eq(names.count, 0);
}
