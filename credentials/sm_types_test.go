package credentials_test

import "github.com/aws/aws-sdk-go-v2/service/secretsmanager"

type (
	smGetInput  = secretsmanager.GetSecretValueInput
	smGetOutput = secretsmanager.GetSecretValueOutput
	smOptions   = secretsmanager.Options
)
