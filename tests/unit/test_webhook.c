/*
 * test_webhook.c — unit tests of the webhook signature and address guard
 * (daemon/webhook.c).
 *
 * DESIGN
 * The HMAC is checked against RFC 4231's test vectors.  The guard is fed IP
 * literals only (they resolve without a network): every range the design
 * note names is refused with allow_private off and accepted with it on,
 * including IPv4 carried inside IPv6 (mapped, NAT64, 6to4); public
 * addresses pass either way; malformed URLs, other schemes and URLs with
 * credentials are refused whatever the config says.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "daemon/config.h"
#include "daemon/webhook.h"

static void test_hmac_rfc4231(void **state)
{
	char out[65];

	(void)state;
	webhooks_hmac_hex("Jefe", "what do ya want for nothing?", 28, out);
	assert_string_equal(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	webhooks_hmac_hex("key", "The quick brown fox jumps over the lazy dog", 43, out);
	assert_string_equal(out, "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
}

static const char *const private_urls[] = {
	"http://127.0.0.1/", "http://127.255.0.9:8080/x", "http://10.0.0.1/", "http://172.16.0.1/",
	"http://172.31.255.255/", "http://192.168.1.1/", "http://169.254.169.254/latest",
	"http://100.64.0.1/", "http://0.0.0.0/", "http://224.0.0.251/", "http://239.1.2.3/",
	"http://240.0.0.1/", "http://255.255.255.255/", "http://192.0.0.8/", "http://198.18.0.1/",
	"http://[::1]/", "http://[::]/", "http://[fe80::1]/", "http://[fc00::1]/", "http://[fd12:3456::1]/",
	"http://[ff02::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:10.1.1.1]/",
	"http://[64:ff9b::7f00:1]/", "http://[2002:a00:1::]/", "http://[fec0::1]/",
	"https://localhost/", "http://2130706433/",
};

static const char *const public_urls[] = {
	"http://93.184.216.34/hook", "https://1.1.1.1:8443/k", "http://172.32.0.1/", "http://11.0.0.1/",
	"http://[2606:4700:4700::1111]/", "http://100.128.0.1/", "http://[2002:5db8:d822::]/",
};

static const char *const bad_urls[] = {
	"ftp://93.184.216.34/", "file:///etc/passwd", "not a url", "http://", "gopher://1.1.1.1/",
	"http://user:pw@93.184.216.34/", "http://user@93.184.216.34/",
};

static void test_guard(void **state)
{
	struct config cfg;
	char err[512];

	(void)state;
	config_defaults(&cfg);
	for (size_t i = 0; i < sizeof(private_urls) / sizeof(private_urls[0]); i++) {
		cfg.webhooks_allow_private = 0;
		err[0] = '\0';
		if (webhooks_check_url(&cfg, private_urls[i], err, sizeof(err)) != -1)
			fail_msg("%s was not refused", private_urls[i]);
		assert_non_null(strstr(err, "webhooks.allow_private"));
		cfg.webhooks_allow_private = 1;
		if (webhooks_check_url(&cfg, private_urls[i], err, sizeof(err)) != 0)
			fail_msg("%s refused with allow_private: %s", private_urls[i], err);
	}
	for (size_t i = 0; i < sizeof(public_urls) / sizeof(public_urls[0]); i++) {
		cfg.webhooks_allow_private = 0;
		if (webhooks_check_url(&cfg, public_urls[i], err, sizeof(err)) != 0)
			fail_msg("%s refused: %s", public_urls[i], err);
	}
	for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
		cfg.webhooks_allow_private = 1;
		if (webhooks_check_url(&cfg, bad_urls[i], err, sizeof(err)) != -1)
			fail_msg("%s was accepted", bad_urls[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_guard),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests_name("webhook", tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
