"""All S3 access: presigned uploads and downloads, bucket set-up for the local stack."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class S3Store:
    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def create_bucket(self) -> None:
        try:
            self._client.create_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise

    def allow_browser_access(self, origins: list[str]) -> None:
        """CORS, so a web page on `origins` can PUT presigned uploads and play signed outputs."""
        self._client.put_bucket_cors(
            Bucket=self.bucket,
            CORSConfiguration={
                "CORSRules": [
                    {
                        "AllowedMethods": ["GET", "PUT", "HEAD"],
                        "AllowedOrigins": origins,
                        "AllowedHeaders": ["*"],
                        "ExposeHeaders": ["ETag"],
                        "MaxAgeSeconds": 3000,
                    }
                ]
            },
        )

    def ping(self) -> None:
        self._client.head_bucket(Bucket=self.bucket)

    def presigned_put(
        self, key: str, *, expires_in: int, content_type: str | None, metadata: dict[str, str] | None = None
    ) -> str:
        params: dict[str, object] = {"Bucket": self.bucket, "Key": key}
        if content_type:
            params["ContentType"] = content_type
        if metadata:
            params["Metadata"] = metadata
        url: str = self._client.generate_presigned_url(
            "put_object", Params=params, ExpiresIn=expires_in, HttpMethod="PUT"
        )
        return url

    def presigned_get(self, key: str, *, expires_in: int) -> str:
        url: str = self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
        )
        return url

    def upload_file(self, path: str, key: str, content_type: str | None = None) -> int:
        extra = {"ContentType": content_type} if content_type else {}
        self._client.upload_file(path, self.bucket, key, ExtraArgs=extra)
        return self.size(key)

    def download_file(self, key: str, path: str) -> None:
        self._client.download_file(self.bucket, key, path)

    def size(self, key: str) -> int:
        return int(self._client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def object_metadata(self, key: str) -> dict[str, str]:
        return dict(self._client.head_object(Bucket=self.bucket, Key=key).get("Metadata", {}))

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else {}
        self._client.put_object(Bucket=self.bucket, Key=key, Body=data, **extra)  # type: ignore[arg-type]

    def get_bytes(self, key: str) -> bytes:
        body: bytes = self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def delete(self, keys: list[str]) -> None:
        """Remove objects (up to 1000 per call; a missing key is not an error)."""
        if keys:
            self._client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True}
            )

    def notify_queue_on_uploads(self, queue_arn: str, prefix: str) -> None:
        """Send object-created events under `prefix` to an SQS queue (the S3 upload trigger)."""
        self._client.put_bucket_notification_configuration(
            Bucket=self.bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": queue_arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
                    }
                ]
            },
        )
