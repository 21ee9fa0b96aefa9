/*
 * aws_endpoint.h: which URL an AWS client of sluice talks to, decided in one place for every
 * client (Kinesis, DynamoDB, DynamoDB Streams, STS) in the AWS SDKs' order ("Service-specific
 * endpoints" of the AWS SDKs and Tools reference guide): the job's explicit setting (or a
 * command-line option), AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the profile's `services`
 * section in the shared config file, the profile's endpoint_url, else the region's endpoint.
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS (or the profile's ignore_configured_endpoint_urls) skips
 * everything but the explicit setting. The AWS clients (aws_client.c) and the STS provider
 * (aws_creds_remote.c) call it when they are built; a job's checks call it to know whether a
 * region-less job has somewhere to go.
 */
#ifndef SL_AWS_ENDPOINT_H
#define SL_AWS_ENDPOINT_H

#include <stddef.h>

/* Where an endpoint came from, in the order of precedence. */
typedef enum aws_ep_src {
    AWS_EP_EXPLICIT = 0, /* the job's setting or a command-line option */
    AWS_EP_ENV_SERVICE,  /* AWS_ENDPOINT_URL_<SERVICE> */
    AWS_EP_ENV,          /* AWS_ENDPOINT_URL */
    AWS_EP_SERVICES,     /* the profile's services section of the shared config file */
    AWS_EP_PROFILE,      /* the profile's endpoint_url */
    AWS_EP_DEFAULT,      /* nothing configured: the region's endpoint */
} aws_ep_src_t;

typedef struct aws_endpoint {
    aws_ep_src_t src;
    char url[1024]; /* "" for AWS_EP_DEFAULT */
    char from[1536]; /* for people: "AWS_ENDPOINT_URL_KINESIS", "aws.endpoint", "services
                     * section 'local' of profile 'default' in /home/u/.aws/config", ... */
} aws_endpoint_t;

/* The SDK service identifier ("kinesis", "dynamodb", "dynamodb_streams", "sts", "cloudwatch")
 * of an endpoint prefix ("kinesis", "dynamodb", "streams.dynamodb", "sts", "monitoring"); an
 * unknown prefix is its own identifier. Static string or prefix itself. */
const char *aws_endpoint_service_id(const char *prefix);

/*
 * Resolves the endpoint of the service with SDK identifier id (lower case, as in the config
 * file's services sections; the environment variable is its upper-case form) into *ep.
 * explicit_url (NULL or "": none) wins, named explicit_name in ep->from. profile names the
 * profile of the shared config file (NULL or "": AWS_PROFILE, else "default"); the file is
 * AWS_CONFIG_FILE, else ~/.aws/config. A config file that exists but cannot be read is warned
 * about and skipped. Reads the environment: call it before threads change it. Returns ep->src.
 */
aws_ep_src_t aws_endpoint_resolve(const char *id, const char *explicit_url,
                                  const char *explicit_name, const char *profile,
                                  aws_endpoint_t *ep);

/* Logs at info "<id> endpoint <url> (from <from>)" the first time this process sees the line,
 * at debug ("aws") after that: the clients of every worker resolve the same endpoint.
 * Thread-safe. */
void aws_endpoint_note(const char *id, const char *url, const char *from);

#endif
