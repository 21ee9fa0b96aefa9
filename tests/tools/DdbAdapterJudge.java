/*
 * DdbAdapterJudge: prints what Apache Pulsar's DynamoDB source connector (pulsar-io-dynamodb
 * 4.0.8) would put into Pulsar for every record of a DynamoDB stream, computed by Amazon's own
 * code at the versions that connector ships: the AWS SDK v1 DynamoDB Streams client reads the
 * records and dynamodb-streams-kinesis-adapter's RecordAdapter turns each into the Kinesis
 * record that KCL v1 hands to Pulsar. tests/lib/ddb_adapter.sh downloads the jars, compiles
 * and runs this file; see there for the versions and where they come from.
 *
 *   java -cp CLASSPATH DdbAdapterJudge ENDPOINT_URL STREAM_ARN
 *
 * Region us-east-1; credentials AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (default "x"/"x").
 * Every shard in DescribeStream order (paged by LastEvaluatedShardId) is read from TRIM_HORIZON
 * until NextShardIterator is null or two GetRecords in a row return no record (an open shard
 * that has caught up). One line per record, in shard order:
 *
 *   KEY <TAB> EVENT_NAME <TAB> SEQUENCE_NUMBER <TAB> base64(PAYLOAD)
 *
 * as org.apache.pulsar.io.dynamodb.StreamsRecord (4.0.8) builds them from a RecordAdapter:
 *   key             = getInternalObject().getEventID()
 *   EVENT_NAME      = getInternalObject().getEventName()
 *   SEQUENCE_NUMBER = getInternalObject().getDynamodb().getSequenceNumber()
 *   payload         = getData() (the adapter's RecordObjectMapper JSON of the internal record,
 *                     UTF-8) decoded by a strict UTF-8 decoder and encoded again, only when
 *                     getEncryptionType() is blank; StreamsRecord re-encodes with the platform
 *                     charset, UTF-8 on Pulsar's JVMs, so this file says UTF-8 outright.
 * A null field (Pulsar: a null property, a null value) prints as "-", which is neither a
 * possible event name, sequence number nor base64 text. Base64 is java.util.Base64's standard
 * encoder with padding. Stdout carries only these lines; errors go to stderr with exit 1.
 */

import com.amazonaws.auth.AWSStaticCredentialsProvider;
import com.amazonaws.auth.BasicAWSCredentials;
import com.amazonaws.client.builder.AwsClientBuilder.EndpointConfiguration;
import com.amazonaws.services.dynamodbv2.AmazonDynamoDBStreams;
import com.amazonaws.services.dynamodbv2.AmazonDynamoDBStreamsClientBuilder;
import com.amazonaws.services.dynamodbv2.model.DescribeStreamRequest;
import com.amazonaws.services.dynamodbv2.model.GetRecordsRequest;
import com.amazonaws.services.dynamodbv2.model.GetRecordsResult;
import com.amazonaws.services.dynamodbv2.model.GetShardIteratorRequest;
import com.amazonaws.services.dynamodbv2.model.Record;
import com.amazonaws.services.dynamodbv2.model.Shard;
import com.amazonaws.services.dynamodbv2.model.ShardIteratorType;
import com.amazonaws.services.dynamodbv2.model.StreamDescription;
import com.amazonaws.services.dynamodbv2.streamsadapter.model.RecordAdapter;
import java.io.BufferedOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

public final class DdbAdapterJudge {
    private static final int EMPTY_ANSWERS_TO_STOP = 2;
    private static final int MAX_CALLS_PER_SHARD = 100000;
    // Without JAXB on Java 9+ the SDK warns once that its Base64 falls back to its own codec
    // (same bytes); held here so the level setting is not garbage-collected with the logger.
    private static final java.util.logging.Logger SDK_BASE64_LOG =
            java.util.logging.Logger.getLogger("com.amazonaws.util.Base64");

    private DdbAdapterJudge() {
    }

    private static String env(String name, String dflt) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? dflt : v;
    }

    private static String orDash(String s) {
        return s == null ? "-" : s;
    }

    // Pulsar 4.0.8 StreamsRecord: value = UTF-8 decode of getData() (null when that fails)
    // re-encoded, only when the Kinesis record's encryption type is blank.
    private static byte[] pulsarValue(RecordAdapter r) {
        String enc = r.getEncryptionType();
        if (enc != null && !enc.trim().isEmpty()) {
            return null;
        }
        ByteBuffer data = r.getData().duplicate();
        try {
            String s = StandardCharsets.UTF_8.newDecoder().decode(data).toString();
            return s.getBytes(StandardCharsets.UTF_8);
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    private static List<Shard> shards(AmazonDynamoDBStreams c, String arn) {
        List<Shard> all = new ArrayList<>();
        String start = null;
        do {
            DescribeStreamRequest req = new DescribeStreamRequest().withStreamArn(arn);
            if (start != null) {
                req.setExclusiveStartShardId(start);
            }
            StreamDescription d = c.describeStream(req).getStreamDescription();
            if (d.getShards() != null) {
                all.addAll(d.getShards());
            }
            start = d.getLastEvaluatedShardId();
        } while (start != null);
        return all;
    }

    public static void main(String[] args) {
        if (args.length != 2) {
            System.err.println("usage: java -cp CLASSPATH DdbAdapterJudge ENDPOINT_URL STREAM_ARN");
            System.exit(2);
        }
        // The SDK v1 logs a maintenance-mode notice when a client is built; keep stderr quiet.
        System.setProperty("aws.java.v1.disableDeprecationAnnouncement", "true");
        SDK_BASE64_LOG.setLevel(java.util.logging.Level.SEVERE);
        String endpoint = args[0];
        String arn = args[1];
        PrintStream out = new PrintStream(new BufferedOutputStream(
                new FileOutputStream(FileDescriptor.out), 1 << 16), false);
        String step = "building the DynamoDB Streams client";
        String shardId = null;
        int n = 0;
        try {
            AmazonDynamoDBStreams c = AmazonDynamoDBStreamsClientBuilder.standard()
                    .withEndpointConfiguration(new EndpointConfiguration(endpoint, "us-east-1"))
                    .withCredentials(new AWSStaticCredentialsProvider(new BasicAWSCredentials(
                            env("AWS_ACCESS_KEY_ID", "x"), env("AWS_SECRET_ACCESS_KEY", "x"))))
                    .build();
            step = "DescribeStream " + arn;
            List<Shard> shards = shards(c, arn);
            Base64.Encoder b64 = Base64.getEncoder();
            for (Shard shard : shards) {
                shardId = shard.getShardId();
                step = "GetShardIterator TRIM_HORIZON";
                String it = c.getShardIterator(new GetShardIteratorRequest().withStreamArn(arn)
                        .withShardId(shardId).withShardIteratorType(ShardIteratorType.TRIM_HORIZON))
                        .getShardIterator();
                int empty = 0;
                for (int calls = 0; it != null && empty < EMPTY_ANSWERS_TO_STOP; calls++) {
                    if (calls >= MAX_CALLS_PER_SHARD) {
                        throw new IllegalStateException("no end after " + calls + " GetRecords calls");
                    }
                    step = "GetRecords";
                    GetRecordsResult res = c.getRecords(new GetRecordsRequest().withShardIterator(it));
                    List<Record> recs = res.getRecords();
                    if (recs == null || recs.isEmpty()) {
                        empty++;
                    } else {
                        empty = 0;
                        step = "adapting a record";
                        for (Record rec : recs) {
                            RecordAdapter ra = new RecordAdapter(rec);
                            Record in = ra.getInternalObject();
                            byte[] value = pulsarValue(ra);
                            out.print(orDash(in.getEventID()));
                            out.print('\t');
                            out.print(orDash(in.getEventName()));
                            out.print('\t');
                            out.print(orDash(in.getDynamodb() == null ? null
                                    : in.getDynamodb().getSequenceNumber()));
                            out.print('\t');
                            out.print(value == null ? "-" : b64.encodeToString(value));
                            out.print('\n');
                            n++;
                        }
                    }
                    it = res.getNextShardIterator();
                }
            }
            out.flush();
            if (out.checkError()) {
                System.err.println("DdbAdapterJudge: writing to stdout failed");
                System.exit(1);
            }
        } catch (Throwable e) {
            out.flush();
            System.err.println("DdbAdapterJudge: " + step + (shardId == null ? "" : " (shard " + shardId + ")")
                    + " against " + endpoint + " failed after " + n + " records: " + e);
            Throwable cause = e.getCause();
            while (cause != null) {
                System.err.println("  caused by: " + cause);
                cause = cause.getCause();
            }
            System.exit(1);
        }
    }
}
