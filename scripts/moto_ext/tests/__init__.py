"""Tests of each moto_ext patch: called through boto3 against an in-process moto_server, the
answers checked against botocore's model of the operation (tests/model.py) and the error codes
against the ones the AWS API references document (tests/documented_errors.py)."""
