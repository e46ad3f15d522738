# Seed 001's boto3 handler (pattern 1: update the SSM parameter named by the AMI's tag
# `ImageIdParameterName` when AWS Backup completes), copied verbatim from the article
# "CloudFormationで構築したAutoHealing構成で起動テンプレートのAMI設定更新をドリフトさせずに運用する"
# by ほうき星 on Qiita (shared/seeds/001_b053991606fba3ac.txt, file `lambda_function.py` of
# `solution1-update-parameter.yml`). Only this comment is added. It is the baseline of the
# cold-start benchmark (benches/coldstart/README.md).
import boto3

def lambda_handler(event, context):
    print(f"{event=}")

    # AWSBackupイベントから、ImageIdを取得
    image_id: str = event["resources"][0].split("/")[-1]

    # Imageに付与された'ImageIdParameterName'タグを取得
    describe_images_response: dict = boto3.client("ec2").describe_images(ImageIds=[image_id])
    specific_tag: list[str] = [
        tag["Value"]
        for tag in describe_images_response["Images"][0]["Tags"]
        if tag["Key"] == "ImageIdParameterName"
    ]
    if not specific_tag:
        print("Tag: ImageIdParameterName is not found, Skipped.")
        return

    parameter_name: str = specific_tag[0]

    # 取得したタグを元に、SSMパラメータにImageIdを書き込む
    boto3.client("ssm").put_parameter(
        Name=parameter_name,
        Value=image_id,
        Overwrite=True
    )

    print(f"ImageId: {image_id} is written to SSM Parameter Store: {parameter_name}")
