/** amikeeper's AWS CDK construct: `AmiKeeper`, and what its properties take. */
export * from './amikeeper';
export * from './code';
export * from './config';
export * from './events';
export * from './policy';
