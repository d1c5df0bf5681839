package io.shardwise.gateway;

import com.google.protobuf.Message;
import io.shardwise.core.work.Topics;

/** A message the coordinator decided to publish: topic, key (the job id; a stage task's: job/shard) and protobuf payload. */
public record Outbound(Topics topic, String key, Message message) {
}
