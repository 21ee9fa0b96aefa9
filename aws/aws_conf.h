/*
 * aws_conf.h: the AWS settings every AWS system of sluice shares (Kinesis, DynamoDB Streams and
 * later ones): region, endpoint, which credentials to use and how, and the HTTP client
 * settings. A system embeds sl_aws_conf_t in its own config struct and the rows of
 * SL_AWS_CONF_PROPS() in its own property table, so the same keys, with the Samza, Flink and
 * Pulsar spellings as aliases, are validated, dumped and documented with the system. After the
 * table is applied, sl_aws_conf_provider() turns the filled struct into a credentials provider
 * (aws_creds.h) and sl_aws_conf_http_opts() into HTTP client options.
 */
#ifndef SL_AWS_CONF_H
#define SL_AWS_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "aws_creds.h"
#include "http.h"
#include "sluice/conf.h"

/* Values of aws.credentials.provider and aws.credentials.role.provider (Flink's names plus
 * sluice's CONTAINER and IMDS), in the order of SL_AWS_CP_CHOICES. */
typedef enum sl_aws_cp {
    SL_AWS_CP_AUTO = 0,
    SL_AWS_CP_BASIC,
    SL_AWS_CP_ENV_VAR,
    SL_AWS_CP_SYS_PROP,
    SL_AWS_CP_PROFILE,
    SL_AWS_CP_ASSUME_ROLE,
    SL_AWS_CP_WEB_IDENTITY_TOKEN,
    SL_AWS_CP_CONTAINER,
    SL_AWS_CP_IMDS,
} sl_aws_cp_t;

#define SL_AWS_CP_CHOICES                                                                      \
    "AUTO|BASIC|ENV_VAR|SYS_PROP|PROFILE|ASSUME_ROLE|WEB_IDENTITY_TOKEN|CONTAINER|IMDS"

/* The Pulsar credential plugin class names sluice understands. */
#define SL_AWS_PULSAR_DEFAULT_CHAIN "org.apache.pulsar.io.kinesis.AwsDefaultProviderChainPlugin"
#define SL_AWS_PULSAR_ASSUME_ROLE "org.apache.pulsar.io.kinesis.STSAssumeRoleProviderPlugin"

/* The shared AWS settings, filled by the SL_AWS_CONF_PROPS() rows. Strings are heap copies
 * freed by sl_conf_obj_free() with the embedding table; "" when unset. */
typedef struct sl_aws_conf {
    char *region;
    char *endpoint;
    char *dynamodb_endpoint;   /* the lease table's DynamoDB (KCL consumers) */
    char *cloudwatch_endpoint; /* metrics */
    char *application_name;    /* carried in the User-Agent; also names KCL lease tables */
    char *sts_endpoint;
    int trust_all_certs;
    char *ca_file;
    /* credentials */
    int provider;             /* sl_aws_cp_t */
    char *access_key;
    char *secret_key;         /* secret */
    char *session_token;      /* secret */
    char *profile_name;
    char *profile_path;
    char *role_arn;
    char *role_session_name;
    char *role_external_id;
    int64_t role_duration_ms;
    int role_provider;        /* sl_aws_cp_t: where AssumeRole gets its signing credentials */
    char *web_identity_token_file;
    char *imds_endpoint;
    int imds_allow_v1;
    char *pulsar_plugin;      /* awsCredentialPluginName */
    char *pulsar_param;       /* awsCredentialPluginParam (secret JSON) */
    /* HTTP client */
    char *proxy_host;
    int proxy_port;
    char *proxy_username;
    char *proxy_password;     /* secret */
    int64_t connect_timeout_ms;
    int64_t socket_timeout_ms;
    int max_connections;
    int max_error_retry;      /* -1: the system's own retry policy */
    char *user_agent_suffix;
} sl_aws_conf_t;

#define SL__AO(base, f) ((base) + offsetof(sl_aws_conf_t, f))

/*
 * The rows of the shared AWS settings, for embedding in a system's property table. base is the
 * offset of the sl_aws_conf_t member inside the table's target struct, e.g.
 *     const sl_prop_t kinesis_props[] = { ..., SL_AWS_CONF_PROPS(offsetof(kin_conf_t, aws)), ...
 * The expansion ends with a comma.
 */
#define SL_AWS_CONF_PROPS(base)                                                                \
    {"aws.region", SL_PROP_STRING, SL__AO(base, region), "", 0, 0, NULL, 0,                    \
     "AWS region of the service, e.g. us-east-1. Chooses the regional endpoint, the SigV4 "   \
     "signing region and the regional STS endpoint. Either this or aws.endpoint is needed."},  \
    {"awsRegion", SL_PROP_ALIAS, 0, NULL, 0, 0, "aws.region", 0, "Pulsar's spelling."},        \
    {"aws.endpoint", SL_PROP_STRING, SL__AO(base, endpoint), "", 0, 0, NULL, 0,                \
     "URL of the service endpoint (http:// or https://), for local peers such as "            \
     "LocalStack or kinesalite, VPC endpoints and FIPS endpoints. Empty: as the AWS SDKs, "    \
     "AWS_ENDPOINT_URL_KINESIS (AWS_ENDPOINT_URL_DYNAMODB_STREAMS for a DynamoDB stream), "     \
     "else AWS_ENDPOINT_URL, else the profile's services section (kinesis = / "               \
     "dynamodb_streams = endpoint_url) or endpoint_url in the shared config file, unless "     \
     "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true; else derived from aws.region. The choice and " \
     "its source are logged at start."},                                                      \
    {"awsEndpoint", SL_PROP_ALIAS, 0, NULL, 0, 0, "aws.endpoint", 0, "Pulsar's spelling."},    \
    {"aws.dynamodb.endpoint", SL_PROP_STRING, SL__AO(base, dynamodb_endpoint), "", 0, 0, NULL, \
     0, "URL of the DynamoDB endpoint holding KCL lease tables. Empty: "                       \
     "AWS_ENDPOINT_URL_DYNAMODB, else AWS_ENDPOINT_URL, else the profile's services section "  \
     "(dynamodb = endpoint_url) or endpoint_url in the shared config file, unless "            \
     "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true; else derived from aws.region."},              \
    {"dynamoEndpoint", SL_PROP_ALIAS, 0, NULL, 0, 0, "aws.dynamodb.endpoint", 0,               \
     "Pulsar's spelling."},                                                                   \
    {"aws.cloudwatch.endpoint", SL_PROP_STRING, SL__AO(base, cloudwatch_endpoint), "", 0, 0,   \
     NULL, 0, "URL of the CloudWatch endpoint for metrics. Empty: AWS_ENDPOINT_URL_CLOUDWATCH, " \
     "else AWS_ENDPOINT_URL, else the shared config file (as aws.endpoint), else derived from " \
     "aws.region."},                                                                          \
    {"cloudwatchEndpoint", SL_PROP_ALIAS, 0, NULL, 0, 0, "aws.cloudwatch.endpoint", 0,         \
     "Pulsar's spelling."},                                                                   \
    {"aws.application.name", SL_PROP_STRING, SL__AO(base, application_name), "", 0, 0, NULL,  \
     0, "Name of the application, sent in the User-Agent of every AWS request (and, for "      \
     "KCL-style consumers, the default lease table name)."},                                  \
    {"applicationName", SL_PROP_ALIAS, 0, NULL, 0, 0, "aws.application.name", 0,               \
     "Pulsar's spelling."},                                                                   \
    {"aws.sts.endpoint", SL_PROP_STRING, SL__AO(base, sts_endpoint), "", 0, 0, NULL, 0,        \
     "URL of STS for ASSUME_ROLE and WEB_IDENTITY_TOKEN. Empty: AWS_ENDPOINT_URL_STS, else "   \
     "AWS_ENDPOINT_URL, else the profile's services section (sts = endpoint_url) or "          \
     "endpoint_url in the shared config file, unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true; " \
     "else https://sts.<aws.region>.amazonaws.com (the global endpoint without a region)."},  \
    {"aws.trust.all.certificates", SL_PROP_BOOL, SL__AO(base, trust_all_certs), "false", 0,   \
     0, NULL, 0,                                                                              \
     "Accept any TLS certificate (no verification) from AWS endpoints. For test peers with "  \
     "self-signed certificates only: it disables protection against interception."},         \
    {"aws.ca.file", SL_PROP_STRING, SL__AO(base, ca_file), "", 0, 0, NULL, 0,                  \
     "PEM bundle of the certificate authorities to trust for AWS endpoints. Empty: the "      \
     "system store."},                                                                        \
    {"aws.credentials.provider", SL_PROP_ENUM, SL__AO(base, provider), "AUTO", 0, 0,           \
     SL_AWS_CP_CHOICES, 0,                                                                    \
     "Where credentials come from (Flink's names). AUTO: the keys below when set, else the "  \
     "AWS SDK default chain (environment, web identity token, shared profile with "           \
     "credential_process, container, EC2 instance metadata). BASIC: the keys below. "         \
     "ENV_VAR: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN. PROFILE: the "     \
     "shared credentials/config files. ASSUME_ROLE: STS AssumeRole of "                        \
     "aws.credentials.role.arn, signed with credentials from "                                 \
     "aws.credentials.role.provider. WEB_IDENTITY_TOKEN: STS AssumeRoleWithWebIdentity with "  \
     "the token file. CONTAINER: the ECS/EKS agent (AWS_CONTAINER_CREDENTIALS_*). IMDS: EC2 "  \
     "instance metadata (IMDSv2). SYS_PROP (Java system properties) does not exist here and " \
     "is rejected. Temporary credentials are refreshed before they expire."},                \
    {"aws.credentials.access.key.id", SL_PROP_STRING, SL__AO(base, access_key), "", 0, 0,      \
     NULL, 0,                                                                                 \
     "Access key id for BASIC (and for AUTO, which then means BASIC)."},                      \
    {"aws.accessKey", SL_PROP_ALIAS, 0, NULL, 0, 0, "aws.credentials.access.key.id", 0,        \
     "Samza's spelling."},                                                                    \
    {"aws.credentials.provider.basic.accesskeyid", SL_PROP_ALIAS, 0, NULL, 0, 0,               \
     "aws.credentials.access.key.id", 0, "Flink's spelling."},                                \
    {"aws.credentials.basic.accesskeyid", SL_PROP_ALIAS, 0, NULL, 0, 0,                        \
     "aws.credentials.access.key.id", 0, "Flink's SQL connector spelling."},                  \
    {"aws.credentials.role.provider.basic.accesskeyid", SL_PROP_ALIAS, 0, NULL, 0, 0,          \
     "aws.credentials.access.key.id", 0,                                                      \
     "Flink's spelling for a BASIC aws.credentials.role.provider."},                          \
    {"aws.credentials.secret.access.key", SL_PROP_STRING, SL__AO(base, secret_key), "", 0, 0,  \
     NULL, SL_PROP_F_SECRET, "Secret access key going with aws.credentials.access.key.id."},  \
    {"aws.secretKey", SL_PROP_ALIAS, 0, NULL, 0, 0, "aws.credentials.secret.access.key", 0,    \
     "Samza's spelling (usually written sensitive.aws.secretKey)."},                          \
    {"aws.credentials.provider.basic.secretkey", SL_PROP_ALIAS, 0, NULL, 0, 0,                 \
     "aws.credentials.secret.access.key", 0, "Flink's spelling."},                            \
    {"aws.credentials.basic.secretkey", SL_PROP_ALIAS, 0, NULL, 0, 0,                          \
     "aws.credentials.secret.access.key", 0, "Flink's SQL connector spelling."},              \
    {"aws.credentials.role.provider.basic.secretkey", SL_PROP_ALIAS, 0, NULL, 0, 0,            \
     "aws.credentials.secret.access.key", 0,                                                  \
     "Flink's spelling for a BASIC aws.credentials.role.provider."},                          \
    {"aws.credentials.session.token", SL_PROP_STRING, SL__AO(base, session_token), "", 0, 0,   \
     NULL, SL_PROP_F_SECRET,                                                                  \
     "Session token going with temporary keys given as BASIC credentials (these cannot be "   \
     "refreshed: AWS calls fail once they expire)."},                                         \
    {"aws.credentials.profile.name", SL_PROP_STRING, SL__AO(base, profile_name), "", 0, 0,     \
     NULL, 0,                                                                                 \
     "Profile of the shared credentials/config files for PROFILE and AUTO. Empty: "           \
     "AWS_PROFILE, else default."},                                                           \
    {"aws.credentials.provider.profile.name", SL_PROP_ALIAS, 0, NULL, 0, 0,                    \
     "aws.credentials.profile.name", 0, "Flink's spelling."},                                 \
    {"aws.credentials.role.provider.profile.name", SL_PROP_ALIAS, 0, NULL, 0, 0,               \
     "aws.credentials.profile.name", 0,                                                       \
     "Flink's spelling for a PROFILE aws.credentials.role.provider."},                        \
    {"aws.credentials.profile.path", SL_PROP_STRING, SL__AO(base, profile_path), "", 0, 0,     \
     NULL, 0,                                                                                 \
     "Path of the shared credentials file for PROFILE. Empty: AWS_SHARED_CREDENTIALS_FILE, "  \
     "else ~/.aws/credentials. The config file (AWS_CONFIG_FILE, else ~/.aws/config) is read " \
     "too, for [profile name] sections and credential_process."},                             \
    {"aws.credentials.provider.profile.path", SL_PROP_ALIAS, 0, NULL, 0, 0,                    \
     "aws.credentials.profile.path", 0, "Flink's spelling."},                                 \
    {"aws.credentials.role.provider.profile.path", SL_PROP_ALIAS, 0, NULL, 0, 0,               \
     "aws.credentials.profile.path", 0,                                                       \
     "Flink's spelling for a PROFILE aws.credentials.role.provider."},                        \
    {"aws.credentials.role.arn", SL_PROP_STRING, SL__AO(base, role_arn), "", 0, 0, NULL, 0,    \
     "ARN of the role to assume, for ASSUME_ROLE (required) and WEB_IDENTITY_TOKEN (default " \
     "AWS_ROLE_ARN)."},                                                                       \
    {"aws.credentials.provider.role.arn", SL_PROP_ALIAS, 0, NULL, 0, 0,                        \
     "aws.credentials.role.arn", 0, "Flink's spelling."},                                     \
    {"aws.credentials.role.session.name", SL_PROP_STRING, SL__AO(base, role_session_name), "", \
     0, 0, NULL, 0,                                                                           \
     "Session name of the assumed role (shows in CloudTrail). Empty: AWS_ROLE_SESSION_NAME "  \
     "for WEB_IDENTITY_TOKEN, else sluice-<time>."},                                          \
    {"aws.credentials.role.sessionName", SL_PROP_ALIAS, 0, NULL, 0, 0,                         \
     "aws.credentials.role.session.name", 0, "Flink's spelling."},                            \
    {"aws.credentials.provider.role.sessionName", SL_PROP_ALIAS, 0, NULL, 0, 0,                \
     "aws.credentials.role.session.name", 0, "Flink's DataStream spelling."},                 \
    {"aws.credentials.role.external.id", SL_PROP_STRING, SL__AO(base, role_external_id), "",   \
     0, 0, NULL, 0, "External id the role's trust policy asks for, for ASSUME_ROLE."},       \
    {"aws.credentials.role.externalId", SL_PROP_ALIAS, 0, NULL, 0, 0,                          \
     "aws.credentials.role.external.id", 0, "Flink's spelling."},                             \
    {"aws.credentials.provider.role.externalId", SL_PROP_ALIAS, 0, NULL, 0, 0,                 \
     "aws.credentials.role.external.id", 0, "Flink's DataStream spelling."},                  \
    {"aws.credentials.role.duration", SL_PROP_DURATION, SL__AO(base, role_duration_ms), "1h",  \
     900000.0, 43200000.0, NULL, 0,                                                           \
     "Lifetime asked for the assumed role's credentials (DurationSeconds); they are "         \
     "refreshed 5 minutes before they end."},                                                 \
    {"aws.credentials.role.provider", SL_PROP_ENUM, SL__AO(base, role_provider), "AUTO", 0, 0, \
     SL_AWS_CP_CHOICES, 0,                                                                    \
     "For ASSUME_ROLE: where the credentials that call AssumeRole come from (same values as " \
     "aws.credentials.provider, reading the same keys; ASSUME_ROLE cannot nest again)."},      \
    {"aws.credentials.provider.role.provider", SL_PROP_ALIAS, 0, NULL, 0, 0,                   \
     "aws.credentials.role.provider", 0, "Flink's DataStream spelling."},                     \
    {"aws.credentials.web.identity.token.file", SL_PROP_STRING,                                \
     SL__AO(base, web_identity_token_file), "", 0, 0, NULL, 0,                                \
     "File holding the OIDC token for WEB_IDENTITY_TOKEN, re-read at every refresh. Empty: "  \
     "AWS_WEB_IDENTITY_TOKEN_FILE."},                                                         \
    {"aws.credentials.webIdentityToken.file", SL_PROP_ALIAS, 0, NULL, 0, 0,                    \
     "aws.credentials.web.identity.token.file", 0, "Flink's spelling."},                      \
    {"aws.credentials.provider.webIdentityToken.file", SL_PROP_ALIAS, 0, NULL, 0, 0,           \
     "aws.credentials.web.identity.token.file", 0, "Flink's DataStream spelling."},           \
    {"aws.credentials.role.provider.webIdentityToken.file", SL_PROP_ALIAS, 0, NULL, 0, 0,      \
     "aws.credentials.web.identity.token.file", 0,                                            \
     "Flink's spelling for a WEB_IDENTITY_TOKEN aws.credentials.role.provider."},             \
    {"aws.imds.endpoint", SL_PROP_STRING, SL__AO(base, imds_endpoint), "", 0, 0, NULL, 0,      \
     "URL of the EC2 instance metadata service for IMDS and AUTO. Empty: "                     \
     "AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254."},                      \
    {"aws.imds.allow.v1", SL_PROP_BOOL, SL__AO(base, imds_allow_v1), "false", 0, 0, NULL, 0,   \
     "Fall back to IMDSv1 (no session token) when the metadata service refuses the IMDSv2 "   \
     "token request. Off: only IMDSv2 is used."},                                             \
    {"awsCredentialPluginName", SL_PROP_STRING, SL__AO(base, pulsar_plugin), "", 0, 0, NULL,   \
     0,                                                                                       \
     "Pulsar's credential plugin class: " SL_AWS_PULSAR_DEFAULT_CHAIN " (the default chain, " \
     "like AUTO) or " SL_AWS_PULSAR_ASSUME_ROLE " (AssumeRole of awsCredentialPluginParam's " \
     "roleArn/roleSessionName, signed with default-chain credentials). Empty: "               \
     "awsCredentialPluginParam's keys when given, else aws.credentials.provider."},           \
    {"awsCredentialPluginParam", SL_PROP_STRING, SL__AO(base, pulsar_param), "", 0, 0, NULL,   \
     SL_PROP_F_SECRET,                                                                        \
     "Pulsar's plugin parameter, a JSON object: {\"accessKey\", \"secretKey\" [, "             \
     "\"sessionToken\"]} for fixed keys, or {\"roleArn\", \"roleSessionName\"} for the "      \
     "AssumeRole plugin."},                                                                   \
    {"aws.proxy.host", SL_PROP_STRING, SL__AO(base, proxy_host), "", 0, 0, NULL, 0,            \
     "HTTP proxy host for AWS calls. Empty: libcurl's handling of the https_proxy/"           \
     "no_proxy environment variables."},                                                      \
    {"aws.clientConfig.ProxyHost", SL_PROP_ALIAS, 0, NULL, 0, 0, "aws.proxy.host", 0,          \
     "Samza's spelling (system level)."},                                                     \
    {"aws.proxy.port", SL_PROP_INT, SL__AO(base, proxy_port), "0", 0, 65535, NULL, 0,          \
     "HTTP proxy port; 0: libcurl's default (1080)."},                                        \
    {"aws.clientConfig.ProxyPort", SL_PROP_ALIAS, 0, NULL, 0, 0, "aws.proxy.port", 0,          \
     "Samza's spelling (system level)."},                                                     \
    {"aws.proxy.username", SL_PROP_STRING, SL__AO(base, proxy_username), "", 0, 0, NULL, 0,    \
     "User name for the proxy."},                                                             \
    {"aws.clientConfig.ProxyUsername", SL_PROP_ALIAS, 0, NULL, 0, 0, "aws.proxy.username", 0,  \
     "Samza's spelling (system level)."},                                                     \
    {"aws.proxy.password", SL_PROP_STRING, SL__AO(base, proxy_password), "", 0, 0, NULL,       \
     SL_PROP_F_SECRET, "Password for the proxy."},                                            \
    {"aws.clientConfig.ProxyPassword", SL_PROP_ALIAS, 0, NULL, 0, 0, "aws.proxy.password", 0,  \
     "Samza's spelling (system level)."},                                                     \
    {"aws.connect.timeout", SL_PROP_DURATION, SL__AO(base, connect_timeout_ms), "10s", 1,      \
     600000.0, NULL, 0, "Longest wait for a TCP/TLS connection to an AWS endpoint."},          \
    {"aws.clientConfig.ConnectionTimeout", SL_PROP_ALIAS, 0, NULL, 0, 0,                       \
     "aws.connect.timeout", 0, "Samza's spelling (system level; plain numbers are ms)."},     \
    {"aws.socket.timeout", SL_PROP_DURATION, SL__AO(base, socket_timeout_ms), "10s", 1,        \
     3600000.0, NULL, 0,                                                                      \
     "Longest wait for a whole request/response exchange with an AWS endpoint (streaming "    \
     "reads excepted); an endpoint that accepts and hangs is given up on after it (and the "  \
     "call retried). The AWS SDK's 50 s would keep a hung call silent for most of a minute." \
     },                                                                                       \
    {"aws.clientConfig.SocketTimeout", SL_PROP_ALIAS, 0, NULL, 0, 0, "aws.socket.timeout", 0,  \
     "Samza's spelling (system level; plain numbers are ms)."},                               \
    {"aws.max.connections", SL_PROP_INT, SL__AO(base, max_connections), "0", 0, 100000, NULL,  \
     0, "Most open connections to AWS endpoints per client; 0: libcurl's default."},          \
    {"aws.clientConfig.MaxConnections", SL_PROP_ALIAS, 0, NULL, 0, 0, "aws.max.connections",   \
     0, "Samza's spelling (system level)."},                                                  \
    {"aws.max.error.retry", SL_PROP_INT, SL__AO(base, max_error_retry), "-1", -1, 1000, NULL,  \
     0,                                                                                       \
     "Retries of a failed retryable AWS call (throttling, 5xx, timeouts) before it counts "   \
     "as failed; -1: the system's own policy."},                                              \
    {"aws.clientConfig.MaxErrorRetry", SL_PROP_ALIAS, 0, NULL, 0, 0, "aws.max.error.retry", 0, \
     "Samza's spelling (system level)."},                                                     \
    {"aws.user.agent.suffix", SL_PROP_STRING, SL__AO(base, user_agent_suffix), "", 0, 0, NULL, \
     0, "Text appended to sluice's User-Agent, e.g. to tell jobs apart in CloudTrail."},       \
    {"aws.clientConfig.UserAgentSuffix", SL_PROP_ALIAS, 0, NULL, 0, 0,                         \
     "aws.user.agent.suffix", 0, "Samza's spelling (system level)."},                         \
    {"aws.clientConfig.UserAgent", SL_PROP_ALIAS, 0, NULL, 0, 0, "aws.user.agent.suffix", 0,   \
     "Samza's older spelling (system level); appended, not replacing sluice's name."},        \
    {"aws.clientConfig.ProxyDomain", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,                  \
     "NTLM proxy domain of the Java SDK; sluice's proxy support is basic authentication."},   \
    {"aws.clientConfig.ProxyWorkstation", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,             \
     "NTLM proxy workstation of the Java SDK."},                                              \
    {"aws.clientConfig.UseGzip", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,                      \
     "Java SDK response compression; not used."},                                             \
    {"aws.clientConfig.UseReaper", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,                    \
     "Java SDK idle-connection reaper; libcurl manages its connection cache itself."},        \
    {"aws.clientConfig.ConnectionTTL", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,                \
     "Java SDK connection lifetime; libcurl manages its connection cache itself."},           \
    {"aws.clientConfig.ConnectionMaxIdleMillis", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,      \
     "Java SDK idle-connection limit; libcurl manages its connection cache itself."},         \
    {"aws.clientConfig.UseTcpKeepAlive", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,              \
     "Java SDK TCP keep-alive switch; not used."},                                            \
    {"aws.clientConfig.SignerOverride", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,               \
     "Java SDK signer choice; sluice always signs with SigV4."},                              \
    {"aws.clientConfig.UseExpectContinue", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,            \
     "Java SDK Expect: 100-continue switch; not used."},

/* The AWS rows alone, over a bare sl_aws_conf_t (tests, tools). */
extern const sl_prop_t sl_aws_conf_props[];

/*
 * Checks the combination of settings in aws (filled by applying a table holding the
 * SL_AWS_CONF_PROPS() rows under prefixes) and adds every problem to conf's error list,
 * against the key spelling the user actually wrote (file:line: key: ...): missing keys for the
 * chosen provider, an unknown Pulsar plugin class, a malformed awsCredentialPluginParam
 * (position only: its text is secret), SYS_PROP, a malformed endpoint. Returns the number of
 * errors added. All arguments borrowed.
 */
int sl_aws_conf_check(sl_conf_t *conf, const char *const *prefixes, const sl_aws_conf_t *aws);

/* Builds the credentials provider that aws describes, after sl_aws_conf_check() (its errors go
 * to conf). base and http borrowed (must outlive the provider; http may be NULL only when no
 * network provider is needed). Returns NULL when there were errors. Caller frees with
 * sl_creds_provider_destroy(), or hands it to sl_creds_new(). */
sl_creds_provider_t *sl_aws_conf_provider(sl_conf_t *conf, const char *const *prefixes,
                                          const sl_aws_conf_t *aws, struct event_base *base,
                                          sl_http_t *http);

/* HTTP client options from the settings; the strings of out->http point into out (keep it alive
 * while calling sl_http_new(), which copies them) and into aws. */
typedef struct sl_aws_http_opts {
    sl_http_opts_t http;
    char proxy[512];
    char user_agent[512];
} sl_aws_http_opts_t;

void sl_aws_conf_http_opts(const sl_aws_conf_t *aws, sl_aws_http_opts_t *out);

#endif
